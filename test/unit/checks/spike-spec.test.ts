/** The spike's spec (a JSON file, or `--server` flags): validation, loads per kind, the flag syntax. */
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { UsageError } from '../../../src/cli/args.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { runSpikeCommand } from '../../../src/cli/spike.ts';
import { parseServerFlag, splitEscaped } from '../../../src/cli/server-flag.ts';
import { describeLoad, silenceWav } from '../../../src/core/checks/spike-load.ts';
import { DEFAULT_PROMPT, DEFAULT_TIMING, validateSpikeSpec } from '../../../src/core/checks/spike-spec.ts';

const problems = (raw: unknown): string[] => {
  const r = validateSpikeSpec(raw);
  assert.equal(r.ok, false, 'expected problems');
  return r.ok ? [] : r.problems;
};

describe('spike spec', () => {
  it('reads servers as task definitions, with the defaults of their kind', () => {
    const r = validateSpikeSpec({
      settleSeconds: 2.5,
      rounds: 5,
      servers: [
        { name: 'stt', server: 'whisper-cpp', command: ['whisper-server'], args: ['-m', 'ggml-base.en.bin', '--port', '8081'], port: 8081 },
        { name: 'llm', server: 'ollama', port: 11434, load: { model: 'llama3.2:3b', prompt: 'Hi' } },
        { server: 'llama-server', args: ['-m', 'm.gguf', '--port', '8080'] },
      ],
    });
    assert.ok(r.ok, JSON.stringify(r));
    const [stt, llm, llama] = r.spec.servers;
    assert.deepEqual(r.spec.timing, { ...DEFAULT_TIMING, settleMs: 2500, rounds: 5 });
    assert.equal(r.spec.gpu, 0);
    assert.equal(r.spec.leaveRunning, false);
    assert.deepEqual([stt!.task.command, stt!.task.healthUrl, stt!.baseUrl], [['whisper-server'], 'http://127.0.0.1:8081/health', 'http://127.0.0.1:8081']);
    assert.deepEqual(stt!.load, { kind: 'default', model: null, prompt: DEFAULT_PROMPT });
    assert.deepEqual(
      [llm!.task.command, llm!.task.env, llm!.task.healthUrl],
      [['ollama', 'serve'], { OLLAMA_HOST: '127.0.0.1:11434' }, 'http://127.0.0.1:11434/'],
    );
    assert.deepEqual(llm!.load, { kind: 'default', model: 'llama3.2:3b', prompt: 'Hi' });
    assert.equal(llama!.name, 'llama-server 3');
    assert.equal(describeLoad(llm!), 'POST /api/generate (llama3.2:3b)');
    assert.equal(describeLoad(stt!), 'POST /inference');
    assert.equal(describeLoad(llama!), 'POST /completion');
  });

  it('refuses a command as one string: it would need a shell', () => {
    const p = problems({ servers: [{ name: 'x', server: 'llama-server', command: 'llama-server -m model.gguf' }] });
    assert.match(p.join('\n'), /"command" must be an array .* a single string would need a shell/);
  });

  it("asks for the model of an Ollama load, and takes the task's fallback model", () => {
    assert.match(problems({ servers: [{ name: 'llm', server: 'ollama' }] }).join('\n'), /Server "llm" \(ollama\): say which model the load request uses/);
    const r = validateSpikeSpec({ servers: [{ name: 'llm', server: 'ollama', fallback: { model: 'qwen2.5:7b' } }] });
    assert.ok(r.ok);
    assert.deepEqual(r.spec.servers[0]!.load, { kind: 'default', model: 'qwen2.5:7b', prompt: DEFAULT_PROMPT });
  });

  it('custom loads: a JSON request, an audio upload, or none; a plain command has none by default', () => {
    const r = validateSpikeSpec({
      servers: [
        { name: 'a', server: 'command', command: ['python3', 'serve.py'], port: 9000, healthUrl: 'http://127.0.0.1:9000/ready' },
        { name: 'b', server: 'command', command: ['python3', 'serve.py'], port: 9001, load: { path: '/generate', body: { n: 1 } } },
        { name: 'c', server: 'faster-whisper', command: ['whisper-asr'], port: 9002, load: { path: '/asr?output=json', audioField: 'audio_file' } },
        { name: 'd', server: 'vllm', port: 8000, load: 'none' },
      ],
    });
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(
      r.spec.servers.map((s) => s.load),
      [
        { kind: 'none' },
        { kind: 'json', path: '/generate', body: { n: 1 } },
        { kind: 'audio', path: '/asr?output=json', field: 'audio_file', model: null },
        { kind: 'none' },
      ],
    );
  });

  it('says every problem at once', () => {
    const p = problems({
      settleSeconds: -1,
      sampleIntervalMs: 500,
      colour: 'blue',
      servers: [
        { name: 'same', server: 'vllm', port: 8000 },
        { name: 'same', server: 'vllm', port: 8001, load: { path: 'v1/completions' } },
        { name: 'c', server: 'command', command: ['x'], load: { model: 'm' } },
      ],
    });
    const text = p.join('\n');
    assert.match(text, /unknown key "colour"/);
    assert.match(text, /"settleSeconds" must be a number from 0 to 3600, got -1/);
    assert.match(text, /"sampleIntervalMs" must be a whole number from 10 to 100, got 500/);
    assert.match(text, /"load\.path" must start with "\/"/);
    assert.match(text, /a plain command has no usual request/);
    assert.equal(problems({ servers: [] })[0], 'The spike spec: "servers" must be a non-empty list of servers, in the order they start.');
    assert.match(
      problems({
        servers: [
          { name: 'a', server: 'vllm' },
          { name: 'a', server: 'vllm', port: 8001 },
        ],
      }).join('\n'),
      /Two servers are named "a"/,
    );
  });

  it('a 1 s WAV of silence, 16 kHz mono 16-bit', () => {
    const wav = Buffer.from(silenceWav());
    assert.equal(wav.length, 44 + 32_000);
    assert.equal(wav.toString('ascii', 0, 4), 'RIFF');
    assert.equal(wav.readUInt32LE(24), 16_000);
  });
});

describe('--server', () => {
  it('a program and its arguments as separate items, the kind from the name', () => {
    assert.deepEqual(parseServerFlag('name=ollama,cmd=/usr/local/bin/ollama,args=serve,port=11434,model=llama3.2:3b'), {
      name: 'ollama',
      server: 'ollama',
      command: ['/usr/local/bin/ollama'],
      args: ['serve'],
      port: 11434,
      load: { model: 'llama3.2:3b' },
    });
    const r = validateSpikeSpec({
      servers: [parseServerFlag('name=stt,kind=whisper-cpp,cmd=whisper-server,args=-m;models/ggml base.bin;--port;8081,port=8081,health=/health')],
    });
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual([r.spec.servers[0]!.task.command, r.spec.servers[0]!.task.args], [['whisper-server'], ['-m', 'models/ggml base.bin', '--port', '8081']]);
  });

  it('escapes commas and semicolons in values; env items; custom loads', () => {
    assert.deepEqual(splitEscaped('a\\;b;c\\\\;d', ';'), ['a;b', 'c\\', 'd']);
    assert.deepEqual(parseServerFlag('name=x,kind=command,cmd=python3,args=-c;print(1\\,2),env=A=1;B=x\\;y,port=9000,load=/gen,body={"n":1\\,"m":2}'), {
      name: 'x',
      server: 'command',
      command: ['python3'],
      args: ['-c', 'print(1,2)'],
      env: { A: '1', B: 'x;y' },
      port: 9000,
      load: { path: '/gen', body: { n: 1, m: 2 } },
    });
    assert.deepEqual(parseServerFlag('name=v,kind=vllm,port=8000,load=none'), { name: 'v', server: 'vllm', port: 8000, load: 'none' });
  });

  it('says what is wrong', () => {
    assert.throws(
      () => parseServerFlag('name=llm,port=11434'),
      (e: unknown) => e instanceof UsageError && /kind=/.test(e.message),
    );
    assert.throws(() => parseServerFlag('name=ollama,colour=blue'), /unknown key "colour"/);
    assert.throws(() => parseServerFlag('name=ollama,port'), /"port" should look like key=value/);
    assert.throws(() => parseServerFlag('kind=vllm,load=fast'), /load must be default, none or a path/);
    assert.throws(() => parseServerFlag('kind=vllm,health=/health'), /health=\/path needs port=/);
    assert.throws(
      () => parseServerFlag('kind=command,load=/x,body={"a":1,"b":2}'),
      /""b":2}" should look like key=value .*a comma inside a value is written \\,/,
    );
  });
});

describe('vram-guard spike: usage', () => {
  const io = () => {
    const out = { stdout: '', stderr: '' };
    const cli: CliIo = {
      stdout: (t) => {
        out.stdout += t;
      },
      stderr: (t) => {
        out.stderr += t;
      },
      env: {},
      interrupted: new Promise(() => {}),
    };
    return { out, cli };
  };

  it('--help documents the flags and the exit codes', async () => {
    const { out, cli } = io();
    assert.equal(await runSpikeCommand(['--help'], cli), 0);
    assert.match(out.stdout, /--server 'KEY=VALUE,\.\.\.'/);
    assert.match(out.stdout, /Exit codes: 0 GO, 1 NO-GO, 2 no GPU source \(nothing started\), 4 incomplete/);
  });

  it('refuses before anything starts: no servers, both ways at once, a bad spec, leaveRunning', async () => {
    const { cli } = io();
    await assert.rejects(runSpikeCommand([], cli), (e: unknown) => e instanceof UsageError && /say which servers to start/.test(e.message));
    const dir = await mkdtemp(join(tmpdir(), 'vram-guard-spec-'));
    const file = join(dir, 'spec.json');
    await writeFile(file, JSON.stringify({ leaveRunning: true, servers: [{ name: 'v', server: 'vllm', port: 8000 }] }));
    await assert.rejects(runSpikeCommand(['--spec', file, '--server', 'kind=vllm,port=8000'], cli), /either with --server or in the --spec file/);
    await assert.rejects(runSpikeCommand(['--spec', file], cli), /"leaveRunning" is for the editor's command/);
    await assert.rejects(runSpikeCommand(['--spec', join(dir, 'missing.json')], cli), /--spec: cannot read .*ENOENT/);
    await assert.rejects(
      runSpikeCommand(['--server', 'kind=ollama,port=11434', '--rounds', '0'], cli),
      (e: unknown) => e instanceof UsageError && /say which model/.test(e.message) && /"rounds" must be a whole number from 1/.test(e.message),
    );
  });
});
