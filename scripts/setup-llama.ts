/**
 * Sets up the real llama.cpp the tests run (npm run setup:llama): the source and prebuilt Vulkan
 * libraries from node-llama-cpp's npm packages, and what the tests build from that source: the
 * CPU-only llama-server and llama-fit-params, and the dry-run tool. Each step is skipped when its
 * result is already there, so a second run costs nothing.
 */
import { errorMessage } from '../src/core/errors.ts';
import { buildDryRunTool } from './llama/dry-run-tool.ts';
import { fetchLlamaSource, fetchVulkanLibraries } from './llama/fetch.ts';
import { buildLlamaServer } from './llama/server-build.ts';

const log = (line: string) => process.stdout.write(`${line}\n`);

try {
  await fetchLlamaSource(log);
  await fetchVulkanLibraries(log);
  await buildLlamaServer(log);
  await buildDryRunTool(log);
} catch (err) {
  process.stderr.write(`setup:llama: ${errorMessage(err)}\n`);
  process.exitCode = 1;
}
