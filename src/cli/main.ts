/**
 * The `sg` command line. Exit status (ARCHITECTURE.md): 0 all good; 1 an expectation or check
 * failed; 2 bad usage, config or input.
 */

import { EXIT, processIo, type Io } from './io.ts';
import { runCommand } from './run.ts';

export { EXIT };

/** The default demo scenario (`npm start`). */
export const DEMO_SCENARIO = 'scenarios/demo.yaml';

const COMMANDS = {
  run: 'run a scenario in the simulator (or with --real in a namespace lab) and check its expectations',
  sweep: 'run a scenario over many seeds in parallel',
  fuzz: 'generate fault schedules, check expectations, shrink failures',
  lab: 'build (up) or remove (down) a network-namespace lab from a scenario',
  daemon: 'run an SG node on real interfaces (AF_PACKET)',
  cmd: 'send a feedback-protocol command to an SG node (sgcmd)',
  hb: 'send signed heartbeats to an SG node while a process is alive (SGhb)',
  rpc: 'serve the RPC key-value service with the SG write-status option, or send it a read or write',
  diff: 'compare the decisions of two traces (simulator against lab)',
  viz: 'serve the browser timeline for a trace and print its URL',
  demo: `run the default demo scenario (${DEMO_SCENARIO}) with trace, capture and timeline report in out/`,
} as const;
type Command = keyof typeof COMMANDS;

function usage(): string {
  const lines = ['usage: sg <command> [options]', '', 'commands:'];
  for (const [name, what] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(8)} ${what}`);
  lines.push('', 'sg <command> --help for the options of one command.', 'exit status: 0 all good, 1 an expectation or check failed, 2 bad usage or input');
  return lines.join('\n');
}

function isCommand(s: string): s is Command {
  return Object.hasOwn(COMMANDS, s);
}

export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    (cmd === undefined ? io.err : io.out)(usage() + '\n');
    return cmd === undefined ? EXIT.usage : EXIT.ok;
  }
  if (cmd === '--version') {
    io.out('sg 0.1.0\n');
    return EXIT.ok;
  }
  if (!isCommand(cmd)) {
    io.err(`sg: unknown command '${cmd}'\n\n${usage()}\n`);
    return EXIT.usage;
  }
  switch (cmd) {
    case 'run':
      return runCommand(rest, io);
    case 'demo': {
      const { mkdirSync } = await import('node:fs');
      mkdirSync('out', { recursive: true });
      const code = await runCommand([DEMO_SCENARIO, '--trace', 'out/demo.jsonl', '--pcap', 'out/demo.pcapng', '--report', 'out/demo.html', ...rest], io);
      io.out('open out/demo.html in a browser for the timeline of the run, or: sg viz out/demo.jsonl\n');
      return code;
    }
    case 'sweep': {
      const { sweepCommand } = await import('./sweep.ts');
      return sweepCommand(rest, io);
    }
    case 'fuzz': {
      const { fuzzCommand } = await import('./fuzz.ts');
      return fuzzCommand(rest, io);
    }
    case 'hb': {
      const { hbCommand } = await import('./hb.ts');
      return hbCommand(rest, io);
    }
    case 'viz': {
      const { vizCommand } = await import('./viz.ts');
      return vizCommand(rest, io);
    }
    case 'diff': {
      const { diffCommand } = await import('./diff.ts');
      return diffCommand(rest, io);
    }
    case 'lab': {
      const { labCommand } = await import('./lab.ts');
      return labCommand(rest, io);
    }
    case 'daemon': {
      const { daemonCommand } = await import('./daemon.ts');
      return daemonCommand(rest, io);
    }
    case 'cmd': {
      const { cmdCommand } = await import('./cmd.ts');
      return cmdCommand(rest, io);
    }
    case 'rpc': {
      const { rpcCommand } = await import('./rpc.ts');
      return rpcCommand(rest, io);
    }
    default:
      io.err(`sg ${cmd}: not available yet in this build; it arrives with ${cmd === 'viz' ? 'the visualizer' : 'real mode'}.\n`);
      return EXIT.usage;
  }
}
