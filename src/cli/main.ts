#!/usr/bin/env node
/**
 * `fdr-monitor` command line: analyze | watch | train.
 * Each subcommand lives in its own module exporting `run(argv): Promise<number>`
 * (the exit code); this file only dispatches.
 */

const USAGE = `usage: fdr-monitor <command> [options]

commands:
  analyze <file | ->   analyse a metrics stream (JSON Lines, stream v1)
  watch                follow a live source (--tail FILE | --connect URL | --listen PORT | --run -- CMD…)
  train <example>      run a built-in example trainer (mnist-mlp, nqm)

Run 'fdr-monitor <command> --help' for a command's options.`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'analyze':
      return (await import('./analyze')).run(rest);
    case 'watch':
      return (await import('./watch')).run(rest);
    case 'train':
      return (await import('./train')).run(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      console.log(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      console.error(`fdr-monitor: unknown command '${cmd}'\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`fdr-monitor: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
