/**
 * Every relative link in README.md, CHANGELOG.md and docs/ leads somewhere: the file (or folder) exists,
 * and an anchor (`page.md#section`, `#section`) names a heading of that page as GitHub and VS Code
 * spell it. The README is also the extension's page in VS Code, where a broken link is a dead click.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/fake-nvml.ts';

/** The Markdown files a reader meets: the README, the changelog and every page under docs/. */
function markdownFiles(): string[] {
  const pages: string[] = [];
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) pages.push(path);
    }
  };
  walk(join(repoRoot, 'docs'));
  return [join(repoRoot, 'README.md'), join(repoRoot, 'CHANGELOG.md'), ...pages.sort()];
}

/** The page's text without fenced code blocks and inline code, line numbers kept. */
function prose(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').map((line) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line.replace(/`[^`]*`/g, '');
  });
}

/** The anchors of a page's headings, as GitHub makes them (lower case, punctuation dropped, spaces to -, -1 for a repeat). */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = heading[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Each relative link (`](target)`, images included) with its line; web and mail links are not checked here. */
function relativeLinks(markdown: string): { line: number; target: string }[] {
  const links: { line: number; target: string }[] = [];
  prose(markdown).forEach((text, i) => {
    for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, vscode: …
      links.push({ line: i + 1, target });
    }
  });
  return links;
}

/** What is wrong with each broken link of the given files, as `file:line: target — why`. */
function brokenLinks(files: string[]): string[] {
  const broken: string[] = [];
  for (const file of files) {
    const markdown = readFileSync(file, 'utf8');
    const name = relative(repoRoot, file);
    for (const { line, target } of relativeLinks(markdown)) {
      const [path, anchor] = target.split('#', 2) as [string, string | undefined];
      const resolved = path ? join(dirname(file), decodeURIComponent(path)) : file;
      if (!existsSync(resolved)) {
        broken.push(`${name}:${line}: ${target} — no such file (${relative(repoRoot, resolved)})`);
        continue;
      }
      if (anchor && resolved.endsWith('.md') && statSync(resolved).isFile()) {
        if (!headingAnchors(readFileSync(resolved, 'utf8')).has(decodeURIComponent(anchor)))
          broken.push(`${name}:${line}: ${target} — ${relative(repoRoot, resolved)} has no heading with the anchor #${anchor}`);
      }
    }
  }
  return broken;
}

test('a link in the README or docs/ to a file or heading that is not there → this check names the file, line and link', () => {
  const files = markdownFiles();
  assert.ok(
    files.some((f) => f.endsWith(join('docs', 'reliability.md'))),
    'docs/ holds the manual pages the README links to',
  );
  assert.deepEqual(brokenLinks(files), []);
});

test('the README links to every page in docs/', () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const linked = new Set(relativeLinks(readme).map(({ target }) => target.split('#')[0]));
  const pages = readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md'));
  assert.deepEqual(
    pages.filter((page) => !linked.has(`docs/${page}`)),
    [],
    'each page of docs/ has a link in the README',
  );
});

test('the link check itself: a missing file, a missing heading and a link inside code are told apart', () => {
  const page =
    '# Set up\n\n## Two commands\n\nSee [here](#two-commands), [gone](#nowhere).\n\n```md\n[not a link](missing.md)\n```\n`[code](x.md)` and ![img](images/a.png) and [web](https://example.com/x.md).\n';
  assert.deepEqual([...headingAnchors(page)], ['set-up', 'two-commands']);
  assert.deepEqual(
    relativeLinks(page).map((l) => `${l.line} ${l.target}`),
    ['5 #two-commands', '5 #nowhere', '10 images/a.png'],
  );
  assert.deepEqual([...headingAnchors('## A — b (c)\n## A — b (c)\n')], ['a--b-c', 'a--b-c-1']);
});
