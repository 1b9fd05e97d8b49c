/**
 * VRAM Guard's entry point: creates the one context that owns the extension's state and lifetime
 * (src/vscode/vram-guard-context.ts) and stops it. Activation does no I/O: the GPU is probed right
 * after, off the startup path.
 */
import type * as vscode from 'vscode';
import type { VramGuardApi } from './vscode/api.ts';
import { VramGuardContext } from './vscode/vram-guard-context.ts';

let guard: VramGuardContext | undefined;

export function activate(context: vscode.ExtensionContext): VramGuardApi {
  guard = new VramGuardContext(context);
  const current = guard;
  // Also stopped if VS Code disposes the subscriptions without calling deactivate; dispose runs once.
  context.subscriptions.push({ dispose: () => void current.dispose() });
  return guard.api();
}

export async function deactivate(): Promise<void> {
  await guard?.dispose();
  guard = undefined;
}
