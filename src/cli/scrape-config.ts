import type { Command } from 'commander';
import { stringify } from 'yaml';
import type { Topology } from '../topology/types.js';
import { common, topologyOf } from './context.js';
import { PATHS } from '../protocol/paths.js';

/**
 * The Prometheus scrape job for a topology: one target per node, labelled with its node
 * name, region, role and upstream, which the dashboards and alert rules group by. An
 * https:// node is scraped over HTTPS (`__scheme__` per target), its certificate checked
 * against trust.ca.
 */
export function scrapeConfig(topology: Topology, job = 'sluice', intervalSec = 15): unknown {
  return {
    job_name: job,
    scrape_interval: `${intervalSec}s`,
    metrics_path: PATHS.metrics,
    ...(topology.trust.caPath ? { tls_config: { ca_file: topology.trust.caPath } } : {}),
    static_configs: [...topology.nodes.values()].map((n) => ({
      targets: [new URL(n.url).host],
      labels: { node: n.name, region: n.region, role: n.isPrimary ? 'primary' : 'downstream', upstream: n.upstream ?? '', ...(n.url.startsWith('https:') ? { __scheme__: 'https' } : {}) },
    })),
  };
}

export function registerScrapeConfig(program: Command): void {
  common(program.command('scrape-config'))
    .description('print the Prometheus scrape job for every node of the topology (paste under scrape_configs:)')
    .option('--job <name>', 'job name', 'sluice')
    .option('--interval <seconds>', 'scrape interval in seconds', '15')
    .action((opts: { job: string; interval: string }, cmd: Command) => {
      process.stdout.write(stringify([scrapeConfig(topologyOf(cmd), opts.job, Number(opts.interval))]));
    });
}
