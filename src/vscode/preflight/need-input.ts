/** The input box that asks how much VRAM the model server needs, for the pre-flight check and the fleet. */
import * as vscode from 'vscode';
import { parseNeedText } from './preflight-settings.ts';

/** Asks for the need ("6GiB", "6144MiB"), checked as it is typed; bytes, or undefined when dismissed. */
export async function askNeedBytes(title: string, placeHolder: string): Promise<number | undefined> {
  const text = await vscode.window.showInputBox({
    title,
    prompt: 'VRAM the model server needs (MiB and GiB are binary, MB and GB decimal)',
    placeHolder,
    validateInput: (t) => {
      const r = parseNeedText(t);
      return 'error' in r ? r.error : undefined;
    },
  });
  if (text === undefined) return undefined;
  const need = parseNeedText(text);
  return 'error' in need ? undefined : need.bytes;
}
