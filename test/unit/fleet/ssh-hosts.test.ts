/** Which ~/.ssh/config Host a fleet host opens in Remote-SSH. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSshHosts, sshAliasFor } from '../../../src/core/fleet/ssh-hosts.ts';

const CONFIG = `# lab machines
Host gpu-lab lab
    HostName gpu-lab.example.org
    User ada
Host desk
  HostName=192.168.1.20
Host *.internal !bastion
  ProxyJump bastion
Match host dgx*
  User root
Host "dgx-a100"
`;

test('aliases without wildcards, each with its HostName', () => {
  assert.deepEqual(parseSshHosts(CONFIG), [
    { alias: 'gpu-lab', hostName: 'gpu-lab.example.org' },
    { alias: 'lab', hostName: 'gpu-lab.example.org' },
    { alias: 'desk', hostName: '192.168.1.20' },
    { alias: 'dgx-a100', hostName: null },
  ]);
});

test('a fleet host matches an alias, a HostName, or a HostName without its domain; else nothing', () => {
  const hosts = parseSshHosts(CONFIG);
  assert.equal(sshAliasFor('gpu-lab', hosts), 'gpu-lab');
  assert.equal(sshAliasFor('GPU-LAB.example.org', hosts), 'gpu-lab');
  assert.equal(sshAliasFor('192.168.1.20', hosts), 'desk');
  assert.equal(sshAliasFor('dgx-a100 (10.0.0.5:9400)', hosts), 'dgx-a100');
  assert.equal(sshAliasFor('elsewhere', hosts), null);
});
