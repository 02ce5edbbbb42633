import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { createNcclCommunicator, loadNccl, ncclInitRank, ncclSearchOrder, type NcclComm } from '../../src/comm/nccl.js';
import { addon } from '../../src/native.js';
import { ProphetError } from '../../src/errors.js';

// Where the nvidia-nccl-cu13 wheel (installed by .ci/run) lives, found independently of the
// loader: ask Python where the nvidia.nccl package is.
function wheelLibrary(): string | undefined {
  try {
    const script = 'import nvidia.nccl\nprint(list(nvidia.nccl.__path__)[0])';
    const dir = execFileSync('python3', ['-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
    const file = join(dir, 'lib', 'libnccl.so.2');
    return existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}
const wheel = wheelLibrary();
const noWheel = wheel === undefined ? 'nvidia-nccl-cu13 is not installed (pip install nvidia-nccl-cu13)' : '';

describe('NCCL search order', () => {
  it('tries only an explicit path', () => {
    expect(ncclSearchOrder({ path: '/x/libnccl.so.2' }, { PROPHET_NCCL_LIBRARY: '/y', NCCL_HOME: '/z' }, [])).toEqual({
      candidates: [{ step: 'options.path', path: '/x/libnccl.so.2' }],
      skipped: [],
    });
    expect(ncclSearchOrder({}, { PROPHET_NCCL_LIBRARY: '/y/libnccl.so.2', NCCL_HOME: '/z' }, []).candidates).toEqual([
      { step: 'PROPHET_NCCL_LIBRARY', path: '/y/libnccl.so.2' },
    ]);
  });

  it('goes NCCL_HOME, NCCL_ROOT, wheels, default path', () => {
    const site = mkdtempSync(join(tmpdir(), 'site-'));
    const lib = join(site, 'nvidia', 'nccl', 'lib');
    mkdirSync(lib, { recursive: true });
    writeFileSync(join(lib, 'libnccl.so.2'), '');
    const search = ncclSearchOrder({}, { NCCL_HOME: '/opt/nccl', NCCL_ROOT: '/usr/local/nccl' }, ['/nowhere', site]);
    expect(search.candidates).toEqual([
      { step: 'NCCL_HOME', path: '/opt/nccl/lib/libnccl.so.2' },
      { step: 'NCCL_ROOT', path: '/usr/local/nccl/lib/libnccl.so.2' },
      { step: 'python wheel nvidia-nccl-cu12/cu13', path: join(lib, 'libnccl.so.2') },
      { step: 'default library path', path: 'libnccl.so.2' },
    ]);
    expect(search.skipped).toEqual([]);
  });

  it('names skipped steps', () => {
    const search = ncclSearchOrder({}, {}, ['/nowhere']);
    expect(search.candidates).toEqual([{ step: 'default library path', path: 'libnccl.so.2' }]);
    expect(search.skipped).toEqual([
      'NCCL_HOME: not set',
      'NCCL_ROOT: not set',
      'python wheel nvidia-nccl-cu12/cu13: nvidia/nccl/lib/libnccl.so.2 not in /nowhere (pip install nvidia-nccl-cu13)',
    ]);
  });
});

// The loader keeps the first library it loads for the whole process, so the failing search
// runs in a fresh vitest fork: this file's first load is a deliberate failure.
describe('loading', () => {
  it('lists every step and its reason when nothing loads', () => {
    const bogus = join(mkdtempSync(join(tmpdir(), 'nccl-')), 'libnccl.so.2');
    writeFileSync(bogus, 'not a library');
    const error = (() => {
      try {
        loadNccl({ path: bogus });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ProphetError);
    expect((error as ProphetError).code).toBe('ENCCL');
    expect((error as Error).message).toContain(`Could not load libnccl.so.2. Tried:\n- options.path: ${bogus}: `);
    expect((error as Error).message).toMatch(/invalid ELF header|file too short/);
    expect((error as Error).message).toContain('PROPHET_NCCL_LIBRARY');
  });

  it('lists NCCL_HOME and the default path when none has NCCL', () => {
    const error = (() => {
      try {
        loadNccl({ env: { NCCL_HOME: '/nonexistent/nccl', PATH: '' } });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    // With the wheel installed the search succeeds at the default path only if the linker finds
    // it there; otherwise every step is listed.
    if (error === undefined) return;
    const message = (error as Error).message;
    expect(message).toContain('- NCCL_HOME: /nonexistent/nccl/lib/libnccl.so.2: /nonexistent/nccl/lib/libnccl.so.2: cannot open shared object file');
    expect(message).toContain('- default library path: libnccl.so.2: libnccl.so.2: cannot open shared object file');
    expect(message).toContain('- NCCL_ROOT: not set');
  });

  it.skipIf(wheel === undefined)(`finds the wheel's library and reports its version ${noWheel}`, () => {
    const nccl = loadNccl({ env: { ...process.env, PROPHET_NCCL_LIBRARY: '', NCCL_HOME: '', NCCL_ROOT: '' } });
    expect(nccl.path).toBe(wheel);
    // The version as pip recorded it for the wheel (an independent source).
    const wheelVersion = execFileSync(
      'python3', ['-c', 'import importlib.metadata as m\nfor d in ("nvidia-nccl-cu13","nvidia-nccl-cu12"):\n  try: print(m.version(d)); break\n  except Exception: pass'], { encoding: 'utf8' })
      .trim();
    expect(nccl.version).toMatch(/^2\.\d+\.\d+$/);
    expect(wheelVersion.startsWith(nccl.version)).toBe(true);
    expect(typeof nccl.hasCommSplit).toBe('boolean');
  });

  it.skipIf(wheel === undefined)('creates distinct 128-byte unique ids without a GPU', () => {
    const nccl = loadNccl();
    const a = nccl.uniqueId();
    const b = nccl.uniqueId();
    expect(a).toBeInstanceOf(Uint8Array);
    expect(a.length).toBe(128);
    expect(a.some((byte) => byte !== 0)).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  it.skipIf(wheel === undefined)('refuses a second, different NCCL', () => {
    loadNccl();
    const other = join(mkdtempSync(join(tmpdir(), 'nccl-')), 'libnccl.so.2');
    writeFileSync(other, '');
    expect(() => loadNccl({ path: other })).toThrow(/NCCL is already loaded from .*; a process can load only one NCCL/);
  });

  it.skipIf(wheel === undefined)('fails communicator init cleanly with NCCL\'s message when there is no GPU', async () => {
    const nccl = loadNccl();
    const hasGpu = existsSync('/dev/nvidia0');
    const result = await ncclInitRank({ uniqueId: nccl.uniqueId(), rank: 0, size: 1 }).then(
      (comm) => comm,
      (error: unknown) => error,
    );
    if (hasGpu) {
      // With a device a group of one initializes; destroy is idempotent.
      const comm = result as { rank: number; size: number; destroy(): void; destroyed: boolean };
      expect(comm.rank).toBe(0);
      expect(comm.size).toBe(1);
      comm.destroy();
      comm.destroy();
      expect(comm.destroyed).toBe(true);
      return;
    }
    expect(result).toBeInstanceOf(ProphetError);
    expect((result as ProphetError).code).toBe('ENCCL');
    expect((result as Error).message).toMatch(/^ncclCommInitRank failed \(rank 0 of 1\): \S/);
    // NCCL's own error string is part of the message.
    expect((result as Error).message).toMatch(/cuda|CUDA|system error|internal error/);
  });

  it.skipIf(wheel === undefined)('fails cleanly on an explicit device without a GPU (ENCCL without a driver, else ECUDA)', async () => {
    const nccl = loadNccl();
    if (existsSync('/dev/nvidia0')) return; // covered by the GPU suite
    const hasDriver = existsSync('/usr/lib/x86_64-linux-gnu/libcuda.so.1') || existsSync('/usr/lib64/libcuda.so.1');
    const error = await ncclInitRank({ uniqueId: nccl.uniqueId(), rank: 0, size: 1, device: 3 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProphetError);
    if (hasDriver) expect(error).toMatchObject({ code: 'ECUDA', message: expect.stringContaining('cannot use CUDA device 3 (rank 0 of 1): ') });
    else expect(error).toMatchObject({ code: 'ENCCL', message: expect.stringContaining('ncclCommInitRank failed (rank 0 of 1): ') });
  });

  it('validates ncclInitRank arguments', async () => {
    await expect(ncclInitRank({ uniqueId: new Uint8Array(12), rank: 0, size: 1 })).rejects.toThrow('Expected Uint8Array of 128 bytes for options.uniqueId but received Uint8Array(12)');
    await expect(ncclInitRank({ uniqueId: new Uint8Array(128), rank: 2, size: 2 })).rejects.toThrow('Expected integer in [0, 1] for options.rank but received 2 of type number');
    await expect(ncclInitRank({ uniqueId: new Uint8Array(128), rank: 0, size: 1, device: -1 })).rejects.toThrow('Expected integer in [0, 1023] for options.device but received -1 of type number');
  });

  it('validates createNcclCommunicator arguments, and needs the CUDA backend', () => {
    const fake = { rank: 0, size: 1, destroyed: false, destroy() {} } as NcclComm;
    expect(() => createNcclCommunicator(null as unknown as NcclComm)).toThrow(TypeError);
    expect(() => createNcclCommunicator(fake, { device: -1 })).toThrow('Expected integer in [0, 1023] for options.device but received -1');
    expect(() => createNcclCommunicator(fake, { timeoutMs: 0 })).toThrow(RangeError);
    if (existsSync('/dev/nvidia0')) return; // the GPU check (cuda/test/addon-gpu-check.mjs) covers the rest
    // Without a usable GPU the CUDA device is refused before the communicator is touched.
    expect(() => createNcclCommunicator(fake)).toThrow(expect.objectContaining({ code: 'ECUDA' }));
  });

  it('the native factory takes only an NcclComm', () => {
    expect(() => addon().ncclCommunicator({} as NcclComm, 0)).toThrow(TypeError);
    expect(() => addon().ncclCommunicator({} as NcclComm, 0)).toThrow('comm');
  });
});
