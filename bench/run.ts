import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { hopsScenario } from './scenarios/hops.js';
import { smallBlobsScenario } from './scenarios/small-blobs.js';
import { servingScenario } from './scenarios/serving.js';
import { resumeScenario } from './scenarios/resume.js';
import { memoryScenario } from './scenarios/memory.js';
import { catalogScaleScenario } from './scenarios/catalog-scale.js';
import { throttleScenario } from './scenarios/throttle.js';
import { tlsScenario } from './scenarios/tls.js';
import { endpointsScenario } from './scenarios/endpoints.js';
import { treeScenario } from './scenarios/tree.js';
import { siblingsScenario } from './scenarios/siblings.js';
import { backgroundScenario } from './scenarios/background.js';
import { feedsScenario } from './scenarios/feeds.js';
import { feedsMainScenario } from './scenarios/feeds-main.js';
import { feedsRpmScenario } from './scenarios/feeds-rpm.js';

/**
 * `npm run bench [-- --quick] [scenario...]`: each scenario against Sluice and a reference
 * tool on this machine, in the same run; prints tables of medians and ratios.
 */
const SCENARIOS: Record<string, (o: { quick: boolean; reps: number }) => Promise<string>> = {
  hops: hopsScenario,
  'small-blobs': smallBlobsScenario,
  serving: servingScenario,
  'serving-tls': (o) => servingScenario({ ...o, tls: true }),
  resume: resumeScenario,
  memory: memoryScenario,
  'catalog-scale': catalogScaleScenario,
  throttle: throttleScenario,
  tls: tlsScenario,
  endpoints: endpointsScenario,
  tree: treeScenario,
  siblings: siblingsScenario,
  background: backgroundScenario,
  // The security suite, then the whole release suite (Debian main): both from this machine's
  // mirror; then a generated RPM repository of 20,000 NEVRAs.
  feeds: async () => `${await feedsScenario()}\n\n${await feedsMainScenario()}\n\n${await feedsRpmScenario()}`,
  'feeds-main': feedsMainScenario,
  'feeds-rpm': feedsRpmScenario,
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const chosen = args.filter((a) => !a.startsWith('--'));
const unknown = chosen.filter((c) => !(c in SCENARIOS));
if (unknown.length) {
  process.stderr.write(`unknown scenario ${unknown.join(', ')}; choose from: ${Object.keys(SCENARIOS).join(', ')}\n`);
  process.exit(2);
}

const tool = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  // nginx -v prints on stderr, curl --version on stdout.
  return r.error ? 'missing' : `${r.stdout}${r.stderr}`.split('\n')[0]!.trim();
};
process.stdout.write(
  `Sluice benchmarks  ${new Date().toISOString()}\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}; curl: ${tool('curl', ['--version'])}; nginx: ${tool('nginx', ['-v'])}\n\n`,
);
for (const name of chosen.length ? chosen : Object.keys(SCENARIOS)) {
  const started = Date.now();
  process.stdout.write(`${await SCENARIOS[name]!({ quick, reps: quick ? 1 : 2 })}\n(${name}: ${((Date.now() - started) / 1000).toFixed(0)} s)\n\n`);
}
