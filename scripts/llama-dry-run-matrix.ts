/**
 * Rewrites docs/llama-dry-run-matrix.md from the dry-run matrix: `npm run docs:dry-run-matrix`
 * (needs `npm run setup:llama`). Prints the worst held part and any part out of bounds.
 */
import { writeFile } from 'node:fs/promises';
import { cudaComputeSection } from '../test/helpers/llama-dry-run-cuda.ts';
import { matrixCases, runMatrix } from '../test/helpers/llama-dry-run-matrix.ts';
import { DRY_RUN_DOC, renderDryRunDoc, worstHeld } from '../test/helpers/llama-dry-run-report.ts';

const results = await runMatrix(matrixCases());
const cuda = await cudaComputeSection();
await writeFile(DRY_RUN_DOC, `${renderDryRunDoc(results, cuda)}\n`);
const out = results.flatMap((r) => r.parts.filter((p) => !p.ok).map((p) => `${r.c.shape.id} ${r.c.args.join(' ')}: ${p.part}`));
console.log(`wrote ${DRY_RUN_DOC}\nworst held part: ${worstHeld(results)}${out.length ? `\nout of bounds:\n${out.join('\n')}` : ''}`);
