/**
 * Rewrites docs/estimate-accuracy.md from the truth set: `node scripts/estimate-accuracy.ts`.
 * Prints the worst case.
 */
import { writeFile } from 'node:fs/promises';
import { ACCURACY_DOC, renderAccuracyDoc, worstSentence } from '../test/helpers/truth-report.ts';
import { evaluateCase, loadTruthCases } from '../test/helpers/truth-set.ts';

const results = [];
for (const c of await loadTruthCases()) results.push(await evaluateCase(c));
await writeFile(ACCURACY_DOC, `${renderAccuracyDoc(results)}\n`);
console.log(`wrote ${ACCURACY_DOC}\nworst case: ${worstSentence(results)}`);
