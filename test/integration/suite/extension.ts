/**
 * Helpers for tests inside the extension host: the extension under test, its API, the fake NVML.
 */
import { createHook } from 'node:async_hooks';
import { readFileSync, readdirSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import type * as vscodeTypes from 'vscode';
import { renderFakeState, type FakeState } from '../../helpers/fake-nvml.ts';
import type { ExtensionState, VramGuardApi } from '../../../src/vscode/api.ts';

export const EXTENSION_ID = 'vram-guard.vram-guard';

export async function vscodeApi(): Promise<typeof vscodeTypes> {
  return await import('vscode');
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits (with a deadline) until VS Code has activated the extension by itself, and returns its API. */
export async function activatedExtension(timeoutMs = 20_000): Promise<{ ext: vscodeTypes.Extension<VramGuardApi>; api: VramGuardApi }> {
  const vscode = await vscodeApi();
  const ext = vscode.extensions.getExtension<VramGuardApi>(EXTENSION_ID);
  if (!ext) throw new Error(`extension ${EXTENSION_ID} is not installed in this VS Code`);
  const deadline = Date.now() + timeoutMs;
  while (!ext.isActive && Date.now() < deadline) await sleep(50);
  if (!ext.isActive) throw new Error(`${EXTENSION_ID} did not activate on startup within ${timeoutMs} ms`);
  const api = ext.exports;
  if (!api || typeof api.getState !== 'function' || typeof api.waitForState !== 'function') {
    throw new Error(`${EXTENSION_ID} activated but did not return the VRAM Guard API (got ${typeof api})`);
  }
  return { ext, api };
}

/** Waits for a first sample or a no-source verdict. */
export async function settled(api: VramGuardApi, timeoutMs = 15_000): Promise<ExtensionState> {
  return await api.waitForState((s) => s.sample !== null || s.noSourceReason !== null, timeoutMs);
}

/** Rewrites the fake NVML's state file (atomically), as the runner created it. */
export async function writeFakeState(state: FakeState): Promise<void> {
  const path = process.env.FAKE_NVML_STATE;
  if (!path) throw new Error('FAKE_NVML_STATE is not set in the extension host: the runner must start VS Code with it');
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, renderFakeState(state));
  await rename(tmp, path);
}

/** Child processes of this extension host, with their command lines (Linux /proc). */
export function childProcesses(): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return out;
  }
  for (const e of entries) {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      out.push({ pid: Number(e), cmd });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * Tracks the timers the extension's bundle creates (by the call stack at creation), so a test can
 * tell whether any is still pending after deactivation.
 */
export function trackExtensionTimers(bundleMarker = 'dist/extension.cjs'): { live(): string[]; created(): number; stop(): void } {
  const live = new Map<number, string>();
  let created = 0;
  const hook = createHook({
    init(asyncId, type) {
      if (type !== 'Timeout' && type !== 'Immediate') return;
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 40;
      const stack = new Error().stack ?? '';
      Error.stackTraceLimit = limit;
      if (!stack.includes(bundleMarker)) return;
      created++;
      live.set(
        asyncId,
        stack
          .split('\n')
          .find((l) => l.includes(bundleMarker))
          ?.trim() ?? type,
      );
    },
    destroy(asyncId) {
      live.delete(asyncId);
    },
  });
  hook.enable();
  return {
    live: () => [...live.values()],
    created: () => created,
    stop: () => hook.disable(),
  };
}
