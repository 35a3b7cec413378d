/**
 * What every in-place header view shares (`Ipv4View`, `TcpView`, `UdpView`): a buffer and the
 * header's offset in it, re-pointable so the NAT path reuses one view per frame (no allocation).
 */
export class HeaderView {
  constructor(
    public buf: Uint8Array,
    public off: number,
  ) {}

  /** Point the view at another header. */
  at(buf: Uint8Array, off: number): this {
    this.buf = buf;
    this.off = off;
    return this;
  }
}
