/**
 * Read-only Markdown documents on a virtual scheme, shown in the Markdown preview: reports and
 * details open without an untitled editor that asks to be saved.
 */
import * as vscode from 'vscode';

export const REPORT_SCHEME = 'vram-guard-report';

export class MarkdownViews implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly documents = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly registration: vscode.Disposable;

  constructor() {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(REPORT_SCHEME, this);
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.documents.get(uri.path) ?? '# Nothing here\n\nThis report is no longer available; run its command again.';
  }

  /** Sets (or replaces) the document `name` and opens its preview beside the editor. */
  async show(name: string, markdown: string): Promise<void> {
    const uri = vscode.Uri.from({ scheme: REPORT_SCHEME, path: `/${name}.md` });
    this.documents.set(uri.path, markdown);
    this.changed.fire(uri);
    await vscode.commands.executeCommand('markdown.showPreview', uri);
  }

  dispose(): void {
    this.registration.dispose();
    this.changed.dispose();
    this.documents.clear();
  }
}
