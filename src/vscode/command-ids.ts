/**
 * The id of every command VRAM Guard contributes (package.json `contributes.commands`), by name.
 * Plain TypeScript without `vscode`, so a unit test ties it to package.json; commands.ts gives each
 * its handler, and `tsc` fails there when one is missing or one is extra.
 */
export const COMMAND = {
  openDashboard: 'vramGuard.openDashboard',
  showDetails: 'vramGuard.showDetails',
  preflightCheck: 'vramGuard.preflightCheck',
  runFallbackStep: 'vramGuard.runFallbackStep',
  runFallbackChainDryRun: 'vramGuard.runFallbackChainDryRun',
  stopModelServer: 'vramGuard.stopModelServer',
  runBudgetSpike: 'vramGuard.runBudgetSpike',
  verifyEchoCancellation: 'vramGuard.verifyEchoCancellation',
  exportHistory: 'vramGuard.exportHistory',
  importHistory: 'vramGuard.importHistory',
  fleetPreflight: 'vramGuard.fleetPreflight',
  setPrometheusToken: 'vramGuard.setPrometheusToken',
  clearPrometheusToken: 'vramGuard.clearPrometheusToken',
} as const;

export type CommandId = (typeof COMMAND)[keyof typeof COMMAND];
