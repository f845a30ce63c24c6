/**
 * `pnpm bench [--suite kernels|models|all] [--backend list] [--sizes 256,512] [--reps N]
 * [--warmup N] [--out FILE] [--quick]`: runs the harness and prints a markdown table on stdout.
 * Progress goes to stderr; every record goes to the JSON file. See bench/README.md.
 */
import { USAGE, parseArgs, runBench } from './harness';

async function main(): Promise<number> {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { markdown, report } = await runBench(options);
  process.stdout.write(`${markdown}\n`);
  return report.records.length > 0 ? 0 : 1;
}

// Dawn keeps handles open after the last device is dropped, so exit explicitly.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
