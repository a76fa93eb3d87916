// JSON-RPC to the node that served this page: calls over HTTP POST, heads
// through the WebSocket subscriptions, and polling when the socket fails.
// Read-only: the page never signs, and calls no method that writes.

const WRITE = /^(author_submit|vcoin_put)/;

// Amounts in base units pass 2^53 (the cap is 10^18): keep those as BigInt,
// reading the digits from the source text where the browser offers it.
function reviver(key, value, context) {
  if (typeof value === "number" && !Number.isSafeInteger(value) && context &&
      typeof context.source === "string" && /^-?\d+$/.test(context.source)) {
    return BigInt(context.source);
  }
  return value;
}

export function parse(text) {
  return JSON.parse(text, reviver);
}

export class RpcError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export class Node extends EventTarget {
  constructor(origin = location.origin) {
    super();
    this.url = origin + "/";
    this.wsUrl = origin.replace(/^http/, "ws") + "/";
    this.nextId = 1;
    this.mode = "connecting";
    this.socket = null;
    this.subs = new Map(); // subscription id -> event name
    this.pending = new Map(); // request id -> event name, for subscribe answers
    this.pollTimer = null;
    this.retry = 2000;
    this.slotMs = 2000;
    this.best = null;
    this.finalized = null;
  }

  async call(method, params = []) {
    const [answer] = await this.post([{ method, params }]);
    if (answer instanceof RpcError) throw answer;
    return answer;
  }

  // Several calls in one JSON-RPC batch: each result, or an RpcError in its place.
  async batch(calls) {
    if (calls.length === 0) return [];
    return this.post(calls);
  }

  async post(calls) {
    const body = calls.map(({ method, params }) => {
      if (WRITE.test(method)) throw new Error(`the dashboard never calls ${method}`);
      return { jsonrpc: "2.0", id: this.nextId++, method, params: params ?? [] };
    });
    const response = await fetch(this.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new RpcError(response.status, `HTTP ${response.status}`);
    const answers = parse(await response.text());
    const byId = new Map((Array.isArray(answers) ? answers : [answers]).map((a) => [a.id, a]));
    return body.map(({ id }) => {
      const answer = byId.get(id);
      if (!answer) return new RpcError(-1, "no answer");
      if (answer.error) return new RpcError(answer.error.code, answer.error.message);
      return answer.result;
    });
  }

  // The chain's identity and parameters, asked once.
  async chainInfo() {
    if (!this.info) this.info = await this.call("vcoin_chainInfo");
    return this.info;
  }

  // Start following the chain's heads: "head" and "finalized" events carry a header.
  start() {
    this.connect();
  }

  setMode(mode) {
    if (this.mode === mode) return;
    this.mode = mode;
    this.dispatchEvent(new CustomEvent("mode", { detail: mode }));
  }

  emit(name, header) {
    const key = name === "head" ? "best" : "finalized";
    const known = this[key];
    if (known && known.hash === header.hash) return;
    this[key] = header;
    this.dispatchEvent(new CustomEvent(name, { detail: header }));
  }

  connect() {
    let socket;
    try {
      socket = new WebSocket(this.wsUrl);
    } catch {
      this.fallBack();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.retry = 2000;
      this.stopPolling();
      this.setMode("live");
      this.subscribe(socket, "chain_subscribeNewHeads", "head");
      this.subscribe(socket, "chain_subscribeFinalizedHeads", "finalized");
    };
    socket.onmessage = (message) => this.receive(message.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.subs.clear();
      this.fallBack();
    };
  }

  subscribe(socket, method, name) {
    const id = this.nextId++;
    this.pending.set(id, name);
    socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, params: [] }));
  }

  receive(text) {
    let message;
    try {
      message = parse(text);
    } catch {
      return;
    }
    if (message.id !== undefined && this.pending.has(message.id)) {
      const name = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.result !== undefined) this.subs.set(String(message.result), name);
      return;
    }
    const sub = message.params && this.subs.get(String(message.params.subscription));
    if (sub && message.params.result) this.emit(sub, message.params.result);
  }

  // The socket failed or closed: poll the heads, and try the socket again later.
  fallBack() {
    this.setMode("polling");
    if (!this.pollTimer) {
      const tick = async () => {
        try {
          await this.poll();
        } catch {
          this.setMode("offline");
        }
        this.pollTimer = setTimeout(tick, Math.max(1000, this.slotMs));
      };
      this.pollTimer = setTimeout(tick, 0);
    }
    setTimeout(() => {
      if (!this.socket) this.connect();
    }, this.retry);
    this.retry = Math.min(this.retry * 2, 30000);
  }

  stopPolling() {
    clearTimeout(this.pollTimer);
    this.pollTimer = null;
  }

  async poll() {
    const [best, finalizedHash] = await this.batch([
      { method: "chain_getHeader", params: [] },
      { method: "chain_getFinalizedHead", params: [] },
    ]);
    if (best instanceof RpcError) throw best;
    if (this.mode === "offline") this.setMode("polling");
    this.emit("head", best);
    if (typeof finalizedHash === "string" && (!this.finalized || this.finalized.hash !== finalizedHash)) {
      const finalized = await this.call("chain_getHeader", [finalizedHash]);
      this.emit("finalized", finalized);
    }
  }
}
