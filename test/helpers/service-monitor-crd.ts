import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { runProgram } from './run.js';
import type { RunResult } from './run.js';

/**
 * The real Prometheus Operator ServiceMonitor CRD, from the Go module proxy: the module's zip
 * holds the generated CRDs under example/prometheus-operator-crd/.
 */
const PROMETHEUS_OPERATOR_MODULE = 'github.com/prometheus-operator/prometheus-operator';
const PROMETHEUS_OPERATOR_VERSION = 'v0.85.0';
const SERVICE_MONITOR_CRD =
  'example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml';

/**
 * 60-servicemonitor.yaml's CRD for `kubectl apply -k manifests/`. Downloads the ServiceMonitor CRD's module with `go mod download` and returns the file. */
export async function serviceMonitorCrd(): Promise<string> {
  const module = `${PROMETHEUS_OPERATOR_MODULE}@${PROMETHEUS_OPERATOR_VERSION}`;
  const why =
    `60-servicemonitor.yaml needs the Prometheus Operator's ServiceMonitor CRD, which this test ` +
    `takes from the Go module proxy (${module}, file ${SERVICE_MONITOR_CRD})`;
  let result: RunResult;
  try {
    // Outside any module, so the project's Go settings play no part.
    result = await runProgram('go', ['mod', 'download', '-json', module], {
      cwd: tmpdir(),
      timeoutMs: 300_000,
    });
  } catch (err) {
    throw new Error(`${why}; could not run go: ${(err as Error).message}`, { cause: err });
  }
  let info: { Dir?: string; Error?: string } = {};
  try {
    info = JSON.parse(result.stdout) as { Dir?: string; Error?: string };
  } catch {
    // Reported below with go's own output.
  }
  if (result.code !== 0 || info.Dir === undefined) {
    throw new Error(
      `${why}; go mod download failed (exit ${String(result.code)}): ${info.Error ?? ''} ${result.stderr}`.trim(),
    );
  }
  const crd = join(info.Dir, SERVICE_MONITOR_CRD);
  if (!existsSync(crd)) throw new Error(`${why}; ${crd} is not in the module`);
  return crd;
}
