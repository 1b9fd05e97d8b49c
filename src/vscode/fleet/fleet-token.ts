/**
 * The Prometheus bearer token, kept in VS Code's SecretStorage (the OS keychain), never in
 * settings: "VRAM Guard: Set Prometheus Token" and "VRAM Guard: Clear Prometheus Token".
 */
import * as vscode from 'vscode';
import { showNotice } from '../notifications/notice.ts';

const SECRET_KEY = 'vramGuard.fleet.prometheusToken';
const MAX_TOKEN_CHARS = 8192;

export function checkToken(text: string): string | undefined {
  const t = text.trim();
  if (!t) return 'Paste the token (or press Escape).';
  if (t.length > MAX_TOKEN_CHARS) return `A token is at most ${MAX_TOKEN_CHARS} characters.`;
  // Visible ASCII only (RFC 6750's b64token and more): no spaces, no control characters.
  if (!/^[\x21-\x7e]+$/.test(t)) return 'A bearer token has no spaces, control or non-ASCII characters.';
  return undefined;
}

export class PrometheusToken {
  private readonly secrets: vscode.SecretStorage;
  constructor(secrets: vscode.SecretStorage) {
    this.secrets = secrets;
  }

  async get(): Promise<string | null> {
    return (await this.secrets.get(SECRET_KEY)) ?? null;
  }

  /** "Set Prometheus Token": the token given (a test, a script) or asked for, checked, kept in the OS keychain. */
  async set(given?: unknown): Promise<void> {
    const text =
      typeof given === 'string'
        ? given
        : await vscode.window.showInputBox({
            title: 'VRAM Guard: Prometheus token',
            prompt: 'Sent as "Authorization: Bearer …" to vramGuard.fleet.prometheus. Kept in the OS keychain.',
            password: true,
            ignoreFocusOut: true,
            validateInput: checkToken,
          });
    if (text === undefined) return;
    const problem = checkToken(text);
    if (problem) {
      void showNotice('error', problem);
      return;
    }
    await this.secrets.store(SECRET_KEY, text.trim());
    void showNotice('info', 'The Prometheus token is saved in the OS keychain.');
  }

  /** "Clear Prometheus Token". */
  async clear(): Promise<void> {
    await this.secrets.delete(SECRET_KEY);
    void showNotice('info', 'The Prometheus token is cleared.');
  }

  /** Calls `onChange` when the token is set or cleared (in this window or another). */
  onDidChange(onChange: () => void): vscode.Disposable {
    return this.secrets.onDidChange((e) => {
      if (e.key === SECRET_KEY) onChange();
    });
  }
}
