/**
 * The globals sans-IO code may use beyond ES2023 (tsconfig.engine.json): UTF-8 text encoding,
 * a pure function of its input, which Node and browsers both provide. Nothing else of either
 * is declared, so a file there that reaches for a Node module, the DOM, timers, the console or
 * `process` does not compile. (The main tsconfig takes these from Node's types instead.)
 */

interface TextEncoder {
  readonly encoding: string;
  encode(input?: string): Uint8Array<ArrayBuffer>;
  encodeInto(source: string, destination: Uint8Array): { read: number; written: number };
}
declare var TextEncoder: {
  prototype: TextEncoder;
  new (): TextEncoder;
};

interface TextDecoderOptions {
  fatal?: boolean;
  ignoreBOM?: boolean;
}
interface TextDecoder {
  readonly encoding: string;
  readonly fatal: boolean;
  readonly ignoreBOM: boolean;
  decode(input?: ArrayBufferView | ArrayBuffer, options?: { stream?: boolean }): string;
}
declare var TextDecoder: {
  prototype: TextDecoder;
  new (label?: string, options?: TextDecoderOptions): TextDecoder;
};
