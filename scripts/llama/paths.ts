/**
 * Where the real llama.cpp the tests run lives: the source node-llama-cpp ships (a git bundle of
 * the exact llama.cpp its libraries were built from), node-llama-cpp's prebuilt Vulkan libraries, and
 * what the tests build from that source. All of it under one folder, `.llama/` at the repository
 * root unless VRAM_GUARD_LLAMA_DIR names another (one copy can then serve several checkouts).
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** node-llama-cpp's version: its git bundle is the llama.cpp source, its platform package the libraries. */
export const NODE_LLAMA_CPP_VERSION = '3.22.1';

/** The npm packages fetched, each with the integrity the registry publishes for that version. */
export const LLAMA_PACKAGES = {
  source: {
    spec: `node-llama-cpp@${NODE_LLAMA_CPP_VERSION}`,
    integrity: 'sha512-bltIipuWmc123H7tMIgDGKSsSrhmhlQYeVUC48XTjVW7XGJJiJJyCdlTMzQ/LiWoPkGDpcL4FviDpgw7qfTiDw==',
  },
  vulkan: {
    spec: `@node-llama-cpp/linux-x64-vulkan@${NODE_LLAMA_CPP_VERSION}`,
    integrity: 'sha512-bBxqU+JOcBu1nb5Qj2zcMci+JByT1E8EajHvYodyNfVIPkEhXh+/HMwR1/BT7xP08YK0hks+kM8fglER0P8JEg==',
  },
} as const;

export const LLAMA_DIR = resolve(process.env.VRAM_GUARD_LLAMA_DIR ?? join(root, '.llama'));

export const llamaPaths = {
  /** The npm tarballs, as fetched. */
  packages: join(LLAMA_DIR, 'packages'),
  /** The llama.cpp source, cloned from node-llama-cpp's bundle. */
  source: join(LLAMA_DIR, 'src'),
  /** node-llama-cpp's prebuilt Vulkan libraries (libllama, libggml-*, one CPU backend per instruction set). */
  vulkanLibs: join(LLAMA_DIR, 'vulkan'),
  /** What the tests build from the source. */
  build: join(LLAMA_DIR, 'build'),
};

/** What a test prints when the real llama.cpp is not set up. */
export const LLAMA_SETUP_HINT = 'npm run setup:llama (needs git, gcc, g++, cmake and mesa-vulkan-drivers: see .ci/run)';
