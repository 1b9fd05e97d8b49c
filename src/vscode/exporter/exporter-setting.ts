/**
 * Reads `vramGuard.exporter.listen` from what VS Code's `inspect` returns. Only user (or remote
 * machine) settings count: a workspace must not open a network listener, so a workspace value is
 * ignored, with a sentence saying so. Empty or "off": no exporter. Pure, tested without VS Code.
 */
import { parseListenAddress, type ListenAddress } from '../../core/exporter/listen-address.ts';

export const EXPORTER_LISTEN_SETTING = 'vramGuard.exporter.listen';

export interface InspectedSetting {
  defaultValue?: unknown;
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

export interface ExporterSetting {
  /** Where to listen; null: the exporter is off. */
  address: ListenAddress | null;
  problems: string[];
}

export function readExporterListen(inspected: InspectedSetting | undefined): ExporterSetting {
  const problems: string[] = [];
  if (isSet(inspected?.workspaceValue) || isSet(inspected?.workspaceFolderValue)) {
    problems.push(
      `${EXPORTER_LISTEN_SETTING} is set in the workspace settings and is ignored there: a workspace cannot open a network listener. Set it in your user settings.`,
    );
  }
  const value = inspected?.globalValue;
  if (!isSet(value) || (typeof value === 'string' && value.trim().toLowerCase() === 'off')) return { address: null, problems };
  const parsed = parseListenAddress(value);
  if ('error' in parsed) {
    problems.push(`${EXPORTER_LISTEN_SETTING}: ${parsed.error}. The exporter stays off.`);
    return { address: null, problems };
  }
  return { address: parsed, problems };
}

const isSet = (v: unknown) => v !== undefined && v !== null && !(typeof v === 'string' && v.trim() === '');
