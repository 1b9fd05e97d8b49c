/**
 * The Ollama URL fallback steps may act on, from the user's own settings only: a workspace (even a
 * trusted one) never chooses where the guard sends an unload. A bad value is reported once and ignored.
 */
import * as vscode from 'vscode';
import { ollamaUrlSetting } from '../../core/fallback/outside-processes.ts';

export function userOllamaUrls(warn: (message: string) => void): () => string[] {
  let reported: string | null = null;
  return () => {
    const value = vscode.workspace.getConfiguration('vramGuard').inspect<string>('servers.ollamaUrl')?.globalValue;
    const { url, problem } = ollamaUrlSetting(value);
    if (problem && problem !== reported) warn(problem);
    reported = problem;
    return url ? [url] : [];
  };
}
