import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { table } from '../lib/report.js';

const TEST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/integration/background-mode.test.js');

/**
 * Background mode on the emulated WAN: the same measurement as the test (network namespaces,
 * a 20 Mbit/s tbf link with a 300 ms queue, a CUBIC foreground download), run once, its
 * figures side by side: the link alone, background mode alone and beside the foreground, and
 * the foreground's share beside background mode and beside a fixed rate equal to the link.
 * The test is the one place the scenario is written; here it is run and read.
 */
export async function backgroundScenario(): Promise<string> {
  if (process.getuid?.() !== 0) return 'Background mode: skipped (network namespaces need root)';
  const run = spawnSync(process.execPath, ['--test', TEST], { encoding: 'utf8', timeout: 300_000 });
  const out = `${run.stdout}\n${run.stderr}`;
  const grab = (re: RegExp) => re.exec(out)?.slice(1) ?? [];
  const [fgAlone, link] = grab(/foreground alone: ([\d.]+) MB\/s \(link ([\d.]+) MB\/s\)/);
  const [bgAlone, bgAlonePct] = grab(/background alone: ([\d.]+) MB\/s = (\d+)% of the link/);
  const [bgDuring, fgShare] = grab(/with a foreground download: background ([\d.]+) MB\/s, foreground (\d+)% of its rate alone/);
  const [bgAfter] = grab(/after: background ([\d.]+) MB\/s/);
  const [fixedShare] = grab(/with a fixed \S+ instead: the foreground download gets (\d+)%/);
  if (!fgAlone || !bgAlone) return `Background mode: the run gave no figures (exit ${run.status})\n${out.split('\n').filter((l) => /error|#/.test(l)).slice(0, 20).join('\n')}`;
  const rows = [
    ['the link (tbf 20 Mbit/s); a foreground download alone', `${link} MB/s; ${fgAlone} MB/s`, ''],
    ['background mode alone', `${bgAlone} MB/s = ${bgAlonePct}% of the link`, '≥ 80%'],
    ['beside a foreground download: background / foreground share', `${bgDuring ?? '?'} MB/s / ${fgShare ?? '?'}% of its rate alone`, 'foreground ≥ 80%'],
    ['after the foreground download', `${bgAfter ?? '?'} MB/s`, 'climbs back'],
    ['foreground share beside a fixed rate at the link instead', `${fixedShare ?? '?'}% (background mode: ${fgShare ?? '?'}%)`, 'printed'],
  ];
  const verdict = run.status === 0 ? 'all assertions of the test held' : `the test failed: ${/error: '([^']+)'/.exec(out)?.[1] ?? `exit ${run.status}`}`;
  return [`Background mode on an emulated WAN (network namespaces, tbf, CUBIC foreground); ${verdict}`, table(['measure', 'value', 'target'], rows)].join('\n');
}
