// A js-libp2p peer for the interop test (tests/interop/test_js_peer.py).
//
//   node peer.mjs <multiaddr with /p2p/ id> <blocks topic> <count> [timeout seconds]
//
// It dials a VCoin node over TCP (noise + yamux, the node's only security
// transport and its default muxer), waits for identify, subscribes to the
// block gossip topic and decodes every block it receives: the gossip message
// is a msgpack array of encoded blocks, each block the canonical msgpack of
// [header, extrinsics, seal] with header = [parent_hash, number, state_root,
// extrinsics_root, slot, author], and a block's hash is BLAKE2b-256 of its
// header's encoding (runtime/types.py). Everything it learns goes to stdout
// as one JSON object a line; it exits 0 once <count> blocks have each moved
// the head past every block before them, 2 on timeout, 1 on any other failure.

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { decode, encode } from '@msgpack/msgpack'
import { multiaddr } from '@multiformats/multiaddr'
import { blake2b } from '@noble/hashes/blake2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { createLibp2p } from 'libp2p'

const [target, topic, countArg, timeoutArg] = process.argv.slice(2)
if (target === undefined || topic === undefined) {
  process.stderr.write('usage: node peer.mjs <multiaddr> <topic> [count] [timeout seconds]\n')
  process.exit(64)
}
const wanted = Number(countArg ?? '2')
const timeoutMs = Number(timeoutArg ?? '120') * 1000

const started = performance.now()
const emit = (event, fields = {}) => {
  const ms = Math.round(performance.now() - started)
  process.stdout.write(JSON.stringify({ event, ms, ...fields }) + '\n')
}
const hex = (bytes) => '0x' + bytesToHex(bytes)
const isBytes = (value, size) => value instanceof Uint8Array && (size === undefined || value.length === size)
const isCount = (value) => Number.isSafeInteger(value) && value >= 0

/** One block's fields, checked as strictly as runtime/types.py Block.decode does. */
function decodeBlock (raw) {
  const wire = decode(raw)
  if (!Array.isArray(wire) || wire.length !== 3) throw new Error('block is not a 3-item list')
  const [header, extrinsics, seal] = wire
  if (!Array.isArray(header) || header.length !== 6) throw new Error('header is not a 6-item list')
  const [parent, number, stateRoot, extrinsicsRoot, slot, author] = header
  for (const field of [parent, stateRoot, extrinsicsRoot, author]) {
    if (!isBytes(field, 32)) throw new Error('bad 32-byte header field')
  }
  if (!isCount(number) || !isCount(slot)) throw new Error('bad block number or slot')
  if (!Array.isArray(extrinsics) || !extrinsics.every((x) => isBytes(x))) throw new Error('bad extrinsics')
  if (!isBytes(seal) || (seal.length !== 0 && seal.length !== 64)) throw new Error('bad seal')
  // The encoding is canonical, so encoding the decoded value again gives the
  // same bytes: that proves the header bytes hashed below are the block's.
  const canonical = Buffer.from(encode(wire)).equals(Buffer.from(raw))
  return {
    number,
    hash: hex(blake2b(encode(header), { dkLen: 32 })),
    parentHash: hex(parent),
    slot,
    author: hex(author),
    extrinsics: extrinsics.length,
    sealed: seal.length === 64,
    canonical
  }
}

const libp2p = await createLibp2p({
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    pubsub: gossipsub({ emitSelf: false })
  }
})

let finished = false
const finish = async (code) => {
  if (finished) return
  finished = true
  clearTimeout(timer)
  setTimeout(() => process.exit(code), 5000).unref() // a stop that hangs
  try {
    await libp2p.stop()
  } catch {}
  process.exit(code)
}
const timer = setTimeout(() => {
  emit('timeout', { seconds: timeoutMs / 1000, blocks: seen.size, heads, identified })
  void finish(2)
}, timeoutMs)

let identified = false
const seen = new Map()
let best = -1
let heads = 0
const maybeDone = () => {
  if (identified && heads >= wanted && !finished) {
    emit('done', { blocks: seen.size, heads })
    void finish(0)
  }
}
const remote = multiaddr(target)
const remotePeer = remote.getComponents().find((c) => c.name === 'p2p')?.value

libp2p.addEventListener('peer:identify', (evt) => {
  const result = evt.detail
  if (remotePeer !== undefined && result.peerId.toString() !== remotePeer) return
  identified = true
  emit('identify', {
    peer: result.peerId.toString(),
    agentVersion: result.agentVersion ?? null,
    protocolVersion: result.protocolVersion ?? null,
    protocols: result.protocols,
    listenAddrs: result.listenAddrs.map((a) => a.toString()),
    observedAddr: result.observedAddr?.toString() ?? null
  })
  maybeDone()
})

const pubsub = libp2p.services.pubsub
pubsub.addEventListener('subscription-change', (evt) => {
  emit('subscription-change', {
    peer: evt.detail.peerId.toString(),
    subscriptions: evt.detail.subscriptions.map((s) => ({ topic: s.topic, subscribe: s.subscribe }))
  })
})
pubsub.addEventListener('gossipsub:graft', (evt) => {
  emit('graft', { peer: evt.detail.peerId.toString(), topic: evt.detail.topic, direction: evt.detail.direction })
})
pubsub.addEventListener('message', (evt) => {
  const msg = evt.detail
  if (msg.topic !== topic) return
  let items
  try {
    items = decode(msg.data)
    if (!Array.isArray(items) || !items.every((i) => isBytes(i))) throw new Error('message is not a list of byte strings')
  } catch (err) {
    emit('bad-message', { error: String(err), bytes: msg.data.length })
    return
  }
  for (const raw of items) {
    try {
      const block = decodeBlock(raw)
      if (!seen.has(block.number)) {
        seen.set(block.number, block.hash)
        // py-libp2p hands a new subscriber the recent blocks of its message
        // cache first, in no set order: count the blocks that move the head.
        const head = block.number > best
        if (head) {
          best = block.number
          heads += 1
        }
        emit('block', { ...block, head, from: msg.type === 'signed' ? msg.from.toString() : null, bytes: raw.length })
      }
    } catch (err) {
      emit('bad-block', { error: String(err), bytes: raw.length })
    }
  }
  maybeDone()
})

try {
  pubsub.subscribe(topic)
  emit('started', { peer: libp2p.peerId.toString(), topic })
  const connection = await libp2p.dial(remote, { signal: AbortSignal.timeout(timeoutMs) })
  emit('connected', {
    peer: connection.remotePeer.toString(),
    remoteAddr: connection.remoteAddr.toString(),
    encryption: connection.encryption ?? null,
    multiplexer: connection.multiplexer ?? null
  })
} catch (err) {
  emit('error', { error: String(err), stack: err?.stack ?? null })
  await finish(1)
}
