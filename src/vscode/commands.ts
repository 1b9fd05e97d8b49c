/**
 * Every command VRAM Guard contributes, in one table: its id (command-ids.ts, tied to package.json
 * by a unit test) and the factory that makes its handler from the context. `registerCommands`
 * registers them all, in one loop, into the context's lifetime; nothing else registers a command.
 */
import * as vscode from 'vscode';
import { verifyEchoCancellationDevice } from './aec/aec-command.ts';
import { COMMAND, type CommandId } from './command-ids.ts';
import { dryRunFallbackChain, runFallbackStep, stopModelServer } from './fallback/fallback-commands.ts';
import { fleetPreflight } from './fleet/fleet-preflight.ts';
import { preflightCheck } from './preflight/preflight-command.ts';
import { runBudgetSpike } from './spike/spike-command.ts';
import type { VramGuardContext } from './vram-guard-context.ts';

/** Makes a command's handler; called once, when the command is registered (a handler may keep state, such as "already running"). */
export type CommandFactory = (ctx: VramGuardContext) => (arg?: unknown) => unknown;

export const COMMANDS: Record<CommandId, CommandFactory> = {
  [COMMAND.openDashboard]: (ctx) => () => ctx.dashboard.open(),
  [COMMAND.showDetails]: (ctx) => () => ctx.showDetails(),
  [COMMAND.preflightCheck]: preflightCheck,
  [COMMAND.runFallbackStep]: runFallbackStep,
  [COMMAND.runFallbackChainDryRun]: dryRunFallbackChain,
  [COMMAND.stopModelServer]: stopModelServer,
  [COMMAND.runBudgetSpike]: runBudgetSpike,
  [COMMAND.verifyEchoCancellation]: verifyEchoCancellationDevice,
  [COMMAND.exportHistory]: (ctx) => (format) => ctx.dashboard.exportHistory(format),
  [COMMAND.importHistory]: (ctx) => (uri) => ctx.dashboard.importHistory(uri),
  [COMMAND.fleetPreflight]: fleetPreflight,
  [COMMAND.setPrometheusToken]: (ctx) => (given) => ctx.prometheusToken.set(given),
  [COMMAND.clearPrometheusToken]: (ctx) => () => ctx.prometheusToken.clear(),
};

/** Registers every command of the table into the context's lifetime. */
export function registerCommands(ctx: VramGuardContext): void {
  for (const [id, make] of Object.entries(COMMANDS)) ctx.own(vscode.commands.registerCommand(id, make(ctx)));
}
