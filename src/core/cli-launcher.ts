/**
 * The launcher that puts `vram-guard` on a terminal's PATH: a small script that runs the bundled CLI
 * with a given runtime. The editor's runtime is Electron on the desktop, which behaves as Node only
 * with ELECTRON_RUN_AS_NODE=1; on a VS Code server (Remote-SSH, WSL, containers) it is Node itself.
 */

/** A POSIX shell word: single-quoted, with single quotes inside escaped. */
function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The launcher's file name and content for a platform. */
export function launcherScript(platform: NodeJS.Platform, runtime: string, cli: string, electron: boolean): { name: string; content: string } {
  const comment = "Written by VRAM Guard: runs its command line with the editor's own runtime.";
  if (platform === 'win32') {
    const lines = ['@echo off', `rem ${comment}`, 'setlocal', ...(electron ? ['set ELECTRON_RUN_AS_NODE=1'] : []), `"${runtime}" "${cli}" %*`, ''];
    return { name: 'vram-guard.cmd', content: lines.join('\r\n') };
  }
  return {
    name: 'vram-guard',
    content: ['#!/bin/sh', `# ${comment}`, `${electron ? 'ELECTRON_RUN_AS_NODE=1 ' : ''}exec ${shQuote(runtime)} ${shQuote(cli)} "$@"`, ''].join('\n'),
  };
}
