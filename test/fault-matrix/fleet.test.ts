/**
 * Fault matrix: the fleet's sources. Each test puts one source (a Prometheus or an exporter URL,
 * real HTTP servers on loopback) into one fault, beside a healthy exporter serving dcgm-exporter's
 * format, and checks what the user sees: the source's error sentence, the healthy host still there
 * with its figures, nothing invented, and a refresh that ends within its bound.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { LoopbackServers, type Handler } from '../helpers/loopback-http.ts';
import { FleetRefresher, type FleetSourcesConfig } from '../../src/core/fleet/fleet-refresh.ts';
import { readFleetSettings } from '../../src/core/fleet/fleet-settings.ts';
import type { FleetSnapshot } from '../../src/core/fleet/fleet-types.ts';
import { fleetTable } from '../../src/core/report/fleet-text.ts';
import { DEFAULT_THRESHOLDS } from '../../src/core/watch/thresholds.ts';
import { parseWebviewMessage } from '../../src/protocol.ts';
import { renderDcgm } from '../fixtures/dcgm-exporter/dcgm-exporter.ts';
import { DGX_A100 } from '../helpers/fleet-machines.ts';
import { MiB } from '../helpers/fake-nvml.ts';

const loopback = new LoopbackServers();
const serve = (handler: Handler) => loopback.serve(handler);

let healthy: string;
before(async () => {
  healthy = `${await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(renderDcgm(DGX_A100));
  })}/metrics`;
});
after(async () => {
  await loopback.closeAll();
});

const config = (over: Partial<FleetSourcesConfig>): FleetSourcesConfig => ({
  prometheus: null,
  targets: [healthy],
  token: null,
  ours: DEFAULT_THRESHOLDS,
  staleAfterMs: 120_000,
  timeoutMs: 1000,
  ...over,
});

/** The healthy dcgm host is read in full: its two GPUs with the fixture's figures. */
function assertHealthyHostKept(s: FleetSnapshot): void {
  const dgx = s.hosts.find((h) => h.name === DGX_A100.hostname);
  assert.ok(dgx, `the healthy host is missing: ${fleetTable(s)}`);
  assert.equal(dgx.stale, null);
  assert.deepEqual(
    dgx.gpus.map((g) => [g.index, g.usedBytes]),
    DGX_A100.gpus.map((g) => [g.index, g.fbUsedMiB * MiB]),
  );
  assert.equal(s.sources.find((x) => x.source === healthy)?.ok, true);
}

function failed(s: FleetSnapshot, source: string): { kind: string; error: string } {
  const o = s.sources.find((x) => x.source === source);
  assert.ok(o && !o.ok, `${source} did not fail: ${JSON.stringify(o)}`);
  return o as { kind: string; error: string };
}

/** Only the healthy host: nothing invented from the broken source. */
const onlyHealthy = (s: FleetSnapshot) =>
  assert.deepEqual(
    s.hosts.map((h) => h.name),
    [DGX_A100.hostname],
  );

test('a fleet URL that is not http(s), or carries a password → the setting is named in a sentence and left out; the other sources are read', async () => {
  const settings = readFleetSettings((k) =>
    k === 'fleet.prometheus'
      ? 'file:///etc/passwd'
      : k === 'fleet.targets'
        ? ['ftp://gpu-box/metrics', 'http://user:secret@gpu-box:9835/metrics', 42, healthy]
        : undefined,
  );
  assert.equal(settings.prometheus, null);
  assert.deepEqual(settings.targets, [healthy]);
  assert.equal(settings.problems.length, 4);
  assert.match(settings.problems[0]!, /vramGuard\.fleet\.prometheus "file:\/\/\/etc\/passwd" must start with http:\/\/ or https:\/\//);
  assert.match(settings.problems[2]!, /user or password in the URL: set a token with "VRAM Guard: Set Prometheus Token" instead/);
  assert.ok(!settings.problems.join(' ').includes('secret'), 'the password is repeated in the message');
  const s = await new FleetRefresher().refresh(config({ targets: settings.targets }));
  assertHealthyHostKept(s);
});

test('a Prometheus that does not answer in time → a timeout for that source after its bound, the other hosts are shown', async () => {
  const silent = await serve(() => {}); // accepts, never answers
  const t0 = Date.now();
  const s = await new FleetRefresher().refresh(config({ prometheus: silent, timeoutMs: 800 }));
  const elapsed = Date.now() - t0;
  const e = failed(s, silent);
  assert.equal(e.kind, 'timeout');
  assert.match(e.error, /did not answer within 0\.8 s/);
  assert.ok(elapsed < 3000, `the refresh took ${elapsed} ms`);
  assertHealthyHostKept(s);
  onlyHealthy(s);
});

test('a Prometheus that answers HTTP 500 → an error quoting its reply for that source, the other hosts are shown', async () => {
  const broken = await serve((_req, res) => {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('internal server error: tsdb closed\n');
  });
  const s = await new FleetRefresher().refresh(config({ prometheus: broken }));
  const e = failed(s, broken);
  assert.equal(e.kind, 'http');
  assert.match(e.error, /answered HTTP 500: "internal server error: tsdb closed"/);
  assertHealthyHostKept(s);
  onlyHealthy(s);
});

test('a reply larger than the bound → refused as too large without reading the rest, the other hosts are shown', async () => {
  let sent = 0;
  const endless = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    const line = `DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-x",Hostname="flood"} 1\n`.repeat(1000);
    const pump = () => {
      while (sent < 512 * MiB && res.write(line)) sent += line.length;
      if (sent < 512 * MiB) res.once('drain', pump);
      else res.end();
    };
    res.on('close', () => (sent = Infinity));
    pump();
  });
  const s = await new FleetRefresher().refresh(config({ targets: [`${endless}/metrics`, healthy], timeoutMs: 20_000 }));
  const e = failed(s, `${endless}/metrics`);
  assert.equal(e.kind, 'too-large');
  assert.match(e.error, /more than the 4194304 bytes a reply may be; the rest was not read/);
  assertHealthyHostKept(s);
  onlyHealthy(s);
});

test('a reply that is not the Prometheus API JSON → an error quoting its start, no host invented', async () => {
  const html = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!DOCTYPE html><html><body>Grafana login</body></html>');
  });
  const s = await new FleetRefresher().refresh(config({ prometheus: html }));
  const e = failed(s, html);
  assert.equal(e.kind, 'malformed');
  assert.match(e.error, /did not answer JSON: "<!DOCTYPE html><html><body>Grafana login/);
  onlyHealthy(s);
});

test('Prometheus refuses the query (status "error") → its errorType and error are quoted, the other hosts are shown', async () => {
  const refusing = await serve((_req, res) => {
    res.writeHead(422, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'error', errorType: 'execution', error: 'query processing would load too many samples into memory' }));
  });
  const s = await new FleetRefresher().refresh(config({ prometheus: refusing }));
  const e = failed(s, refusing);
  assert.equal(e.kind, 'prometheus');
  assert.match(e.error, /refused the query \(execution\): query processing would load too many samples into memory/);
  assertHealthyHostKept(s);
});

test('a Prometheus reply whose points are not [time, "value"] → a malformed-reply error, no GPU invented', async () => {
  const odd = await serve((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const matrix = req.url!.includes('query_range');
    const result = [
      {
        metric: { __name__: 'vram_guard_gpu_memory_used_bytes', gpu: '0', hostname: 'liar', instance: 'liar:9835' },
        [matrix ? 'values' : 'value']: matrix ? [[1, 5]] : [1, { bytes: 5 }],
      },
    ];
    res.end(JSON.stringify({ status: 'success', data: { resultType: matrix ? 'matrix' : 'vector', result } }));
  });
  const s = await new FleetRefresher().refresh(config({ prometheus: odd }));
  const e = failed(s, odd);
  assert.equal(e.kind, 'malformed');
  assert.match(e.error, /a point is not \[time, "value"\]/);
  onlyHealthy(s);
});

test('an exporter page that is not the Prometheus text format → an error naming the line, no GPU invented', async () => {
  const garbage = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).\nDCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-1" 7\n');
  });
  const s = await new FleetRefresher().refresh(config({ targets: [`${garbage}/metrics`, healthy] }));
  const e = failed(s, `${garbage}/metrics`);
  assert.equal(e.kind, 'malformed');
  assert.match(e.error, /not the Prometheus text format at line 2 \(.*\): "DCGM_FI_DEV_FB_USED\{gpu=\\"0\\",UUID=\\"GPU-1\\" 7"/);
  onlyHealthy(s);
});

test('an exporter that refuses the connection → "could not be reached" for it, the rest is read', async () => {
  const gone = await serve(() => {});
  await loopback.close(gone);
  const s = await new FleetRefresher().refresh(config({ targets: [`${gone}/metrics`, healthy] }));
  const e = failed(s, `${gone}/metrics`);
  assert.equal(e.kind, 'unreachable');
  assert.match(e.error, /could not be reached: connect ECONNREFUSED/);
  onlyHealthy(s);
});

test('a source that answered before fails now → its hosts stay with their last figures, stale since their last data', async () => {
  let up = true;
  const flaky = await serve((_req, res) => {
    if (!up) {
      res.writeHead(503).end('Service Unavailable');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(renderDcgm({ ...DGX_A100, hostname: 'dgx-b' }));
  });
  const refresher = new FleetRefresher();
  const first = await refresher.refresh(config({ targets: [`${flaky}/metrics`] }), 1_000_000);
  assert.equal(first.hosts[0]?.stale, null);
  up = false;
  const second = await refresher.refresh(config({ targets: [`${flaky}/metrics`] }), 1_030_000);
  assert.equal(failed(second, `${flaky}/metrics`).kind, 'http');
  assert.equal(second.hosts.length, 1);
  assert.deepEqual(second.hosts[0]!.stale, { since: 1_000_000 });
  assert.equal(second.hosts[0]!.gpus[0]!.usedBytes, DGX_A100.gpus[0]!.fbUsedMiB * MiB);
  assert.match(fleetTable(second), /dgx-b\s+0\s+.*STALE.*no data since/);
});

test('a dashboard message asking for the fleet with arguments it does not take → refused with the reason, nothing runs', () => {
  const r = parseWebviewMessage({ type: 'fleetRefresh', url: 'http://attacker:9090' });
  assert.deepEqual(r, { ok: false, error: 'fleetRefresh: takes no arguments' });
  assert.deepEqual(parseWebviewMessage({ type: 'fleetWhereFits' }), { ok: true, message: { type: 'fleetWhereFits' } });
});
