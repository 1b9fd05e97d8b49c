/**
 * `--server` for `vram-guard spike`: one server as comma-separated key=value pairs, turned into
 * the same object a spec file holds. The command is a program and its arguments as separate items,
 * never a shell string:
 *
 *   --server 'name=llm,kind=ollama,cmd=/usr/local/bin/ollama,args=serve,port=11434,model=llama3.2:3b'
 *   --server 'name=stt,kind=whisper-cpp,cmd=whisper-server,args=-m;models/ggml-base.en.bin;--port;8081,port=8081'
 *
 * Items in `args` and `env` are separated by `;`. A backslash keeps the next character as it is
 * (`\,` `\;` `\\`), for a value that holds a comma or a semicolon.
 */
import { COMMAND_KIND } from '../core/servers/kinds/index.ts';
import { SERVER_KINDS } from '../core/servers/task-definition.ts';
import { UsageError } from './args.ts';
import { errorMessage } from '../core/errors.ts';

export const SERVER_FLAG_HELP = `  --server 'KEY=VALUE,...'         a server to start, in order (repeat it for each). Keys:
                                    name      how the report names it (default: its kind)
                                    kind      ${SERVER_KINDS.join(', ')} (default: the name, when it is a kind)
                                    cmd       the program (default: ollama serve, llama-server, vllm serve, whisper-server by kind)
                                    args      its arguments, separated by ; (args=-m;model.gguf;--port;8080)
                                    env       environment, separated by ; (env=OLLAMA_HOST=127.0.0.1:11434)
                                    cwd       working directory
                                    port      the port it listens on, on 127.0.0.1
                                    health    health URL or path (default: the kind's, e.g. /health)
                                    start-timeout  seconds to wait for health (default 120)
                                    model     the model the load request names (Ollama: required)
                                    prompt    the prompt of the load request
                                    load      default (the kind's request), none, or a path to POST
                                    body      the JSON body for load=PATH
                                    audio     the form field of a 1 s WAV for load=PATH (transcription)
                                    (a backslash escapes , ; and \\ inside a value)`;

const KEYS = ['name', 'kind', 'cmd', 'args', 'env', 'cwd', 'port', 'health', 'start-timeout', 'model', 'prompt', 'load', 'body', 'audio'] as const;

/** Splits at unescaped `sep`, removing the escapes (or keeping them, for a later split). */
export function splitEscaped(text: string, sep: string, keepEscapes = false): string[] {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === undefined) break;
    if (c === '\\' && i + 1 < text.length) current += (keepEscapes ? c : '') + text[++i];
    else if (c === sep) {
      out.push(current);
      current = '';
    } else current += c;
  }
  out.push(current);
  return out;
}

const unescapeValue = (text: string) => splitEscaped(text, '\u0000').join('');

/** One `--server` value → the server object of a spec file (validated later, with the rest). */
export function parseServerFlag(text: string): Record<string, unknown> {
  const pairs = new Map<string, string>();
  for (const part of splitEscaped(text, ',', true)) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`--server: "${part}" should look like key=value (keys: ${KEYS.join(', ')}); a comma inside a value is written \\,`);
    const key = part.slice(0, eq).trim();
    if (!(KEYS as readonly string[]).includes(key)) throw new UsageError(`--server: unknown key "${key}"; the keys are ${KEYS.join(', ')}`);
    if (pairs.has(key)) throw new UsageError(`--server: "${key}" is given twice`);
    pairs.set(key, part.slice(eq + 1));
  }
  const get = (key: string) => {
    const raw = pairs.get(key);
    return raw === undefined ? undefined : unescapeValue(raw);
  };
  const out: Record<string, unknown> = {};
  const name = get('name');
  const kind = get('kind') ?? (name && (SERVER_KINDS as readonly string[]).includes(name) ? name : undefined);
  if (!kind) throw new UsageError(`--server: say which kind of server it is with kind=${SERVER_KINDS.join('|')}`);
  if (name !== undefined) out.name = name;
  out.server = kind;
  const cmd = get('cmd');
  const argsText = pairs.get('args');
  const args = argsText === undefined ? undefined : splitEscaped(argsText, ';').filter((a) => a !== '');
  if (cmd !== undefined) out.command = [cmd];
  else if (args && kind === COMMAND_KIND) throw new UsageError('--server: a plain command needs cmd=PROGRAM');
  if (args) out.args = args;
  const envText = pairs.get('env');
  if (envText !== undefined) {
    const env: Record<string, string> = {};
    for (const item of splitEscaped(envText, ';')) {
      if (!item) continue;
      const eq = item.indexOf('=');
      if (eq <= 0) throw new UsageError(`--server: env item "${item}" should look like NAME=value`);
      env[item.slice(0, eq)] = item.slice(eq + 1);
    }
    out.env = env;
  }
  const cwd = get('cwd');
  if (cwd !== undefined) out.cwd = cwd;
  const port = get('port');
  if (port !== undefined) out.port = /^\d+$/.test(port) ? Number(port) : port;
  const health = get('health');
  if (health !== undefined) {
    if (health.startsWith('/')) {
      if (port === undefined) throw new UsageError('--server: health=/path needs port= too (or give the whole URL)');
      out.healthUrl = `http://127.0.0.1:${port}${health}`;
    } else out.healthUrl = health;
  }
  const timeout = get('start-timeout');
  if (timeout !== undefined) out.startTimeoutSeconds = Number(timeout);

  const load = get('load');
  const loadObject: Record<string, unknown> = {};
  for (const key of ['model', 'prompt'] as const) {
    const v = get(key);
    if (v !== undefined) loadObject[key] = v;
  }
  const body = get('body');
  const audio = get('audio');
  if (load === 'none') {
    if (Object.keys(loadObject).length || body !== undefined || audio !== undefined)
      throw new UsageError('--server: load=none takes no model, prompt, body or audio');
    out.load = 'none';
    return out;
  }
  if (load !== undefined && load !== 'default') {
    if (!load.startsWith('/')) throw new UsageError(`--server: load must be default, none or a path such as /completion, not "${load}"`);
    loadObject.path = load;
    if (body !== undefined) {
      try {
        loadObject.body = JSON.parse(body);
      } catch (err) {
        throw new UsageError(`--server: body is not JSON (${errorMessage(err)}); escape its commas as \\,`);
      }
    }
    if (audio !== undefined) loadObject.audioField = audio;
  } else if (body !== undefined || audio !== undefined) throw new UsageError('--server: body and audio go with load=PATH');
  if (Object.keys(loadObject).length) out.load = loadObject;
  return out;
}
