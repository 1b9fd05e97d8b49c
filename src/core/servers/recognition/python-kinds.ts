/**
 * Python processes on the GPU that are not one of the model servers: ComfyUI, NeMo (the speech
 * daemon of the field notes), and any other Python process (PyTorch, most likely). The catch-all
 * comes last in the registry.
 */
import { isPython, optionValue, pythonTarget, type ProcessKind } from './process-kind.ts';

/** ComfyUI: `python main.py` in a ComfyUI folder, or the comfy CLI. */
export const comfyUiProcess: ProcessKind = {
  id: 'comfyui',
  label: 'ComfyUI',
  serverKind: null,
  listens: true,
  recognise: (p) => (p.argv.slice(0, 4).some((a) => /comfy/i.test(a)) ? { role: null, model: null } : null),
};

/** NVIDIA NeMo: a Python process whose module or script names it. */
export const nemoProcess: ProcessKind = {
  id: 'nemo',
  label: 'NVIDIA NeMo',
  serverKind: null,
  listens: true,
  recognise: (p) => {
    const py = pythonTarget(p);
    if (!py || !/(^|[/._-])nemo([/._-]|$)/i.test(py.target)) return null;
    return { role: null, model: optionValue(p.argv, ['--model', '--model_path', 'model_path']) };
  },
};

/** Any other Python process on the GPU: PyTorch, most likely (faster-whisper, NeMo and vLLM are recognised before). */
export const pythonProcess: ProcessKind = {
  id: 'python',
  label: 'Python (PyTorch or similar)',
  serverKind: null,
  listens: true,
  recognise: (p) => {
    const py = pythonTarget(p);
    if (!py || !isPython(p)) return null;
    return { role: py.target || null, model: optionValue(p.argv, ['--model', '-m']) };
  },
};
