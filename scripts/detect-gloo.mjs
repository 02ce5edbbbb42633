// Prints "true" when Gloo (Debian: libgloo-dev) is installed, so that binding.gyp compiles the
// multi-process backend (native/comm/optional/), else "false": the addon then builds without it.
// PROPHET_WITH_GLOO=0 forces "false".
import { existsSync } from 'node:fs';

const includeDirs = ['/usr/include', '/usr/local/include'];
const libDirs = ['/usr/lib', '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/local/lib'];

const disabled = process.env.PROPHET_WITH_GLOO === '0';
const header = includeDirs.some((d) => existsSync(`${d}/gloo/rendezvous/store.h`) && existsSync(`${d}/gloo/transport/tcp/device.h`));
const library = libDirs.some((d) => existsSync(`${d}/libgloo.so`));
process.stdout.write(!disabled && header && library ? 'true' : 'false');
