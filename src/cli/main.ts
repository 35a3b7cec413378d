/**
 * The `sg` command line. Exit status (ARCHITECTURE.md): 0 all good; 1 an expectation or check
 * failed; 2 bad usage, config or input.
 */

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const COMMANDS = {
  run: 'run a scenario in the simulator (or with --real in a namespace lab)',
  sweep: 'run a scenario over many seeds in parallel',
  fuzz: 'generate fault schedules, check expectations, shrink failures',
  lab: 'build (up) or remove (down) a network-namespace lab from a scenario',
  daemon: 'run an SG node on real interfaces',
  cmd: 'send a feedback-protocol command to an SG node',
  viz: 'open a trace in the browser timeline',
  demo: 'run the default demo scenario (what npm start runs)',
} as const;
type Command = keyof typeof COMMANDS;

function usage(): string {
  const lines = ['usage: sg <command> [options]', '', 'commands:'];
  for (const [name, what] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(8)} ${what}`);
  lines.push('', 'sg <command> --help for the options of one command.');
  return lines.join('\n');
}

function isCommand(s: string): s is Command {
  return Object.hasOwn(COMMANDS, s);
}

export async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(usage() + '\n');
    return cmd === undefined ? EXIT.usage : EXIT.ok;
  }
  if (cmd === '--version') {
    process.stdout.write('sg 0.1.0\n');
    return EXIT.ok;
  }
  if (!isCommand(cmd)) {
    process.stderr.write(`sg: unknown command '${cmd}'\n\n${usage()}\n`);
    return EXIT.usage;
  }
  if (cmd === 'demo') {
    process.stdout.write(
      'SG Cluster: the default demo scenario arrives with the simulator (issue 3) and scenario files (issue 4).\n' +
        'Until then: npm test runs the codec, capture and port tests; npm run bench measures the codecs.\n',
    );
    return EXIT.ok;
  }
  // The commands arrive with the parts that implement them (simulator, scenarios, real mode).
  const part = cmd === 'run' || cmd === 'sweep' || cmd === 'fuzz' ? 'the simulator and scenario files' : 'the cluster parts';
  process.stderr.write(`sg ${cmd}: not available yet in this build; it arrives with ${part}. (${rest.length} argument(s) ignored)\n`);
  return EXIT.usage;
}
