// Deno.serve (Deno's HTTP server, hyper underneath) for the held-out
// simulation, the routes of wsgiapp.py. Deno has no idle-timeout option.
// usage: deno run --allow-net denoserver.js PORT
const port = Number(Deno.args[0]);
const bodies = { "/": "index of the deno test app\n".repeat(8), "/a.txt": "a".repeat(612) + "\n", "/b.txt": "b".repeat(1999) + "\n" };
Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (req) => {
  const path = new URL(req.url).pathname;
  if (path === "/post") {
    const b = await req.arrayBuffer();
    return new Response(`got ${b.byteLength} bytes\n`, { headers: { "Content-Type": "text/plain" } });
  }
  if (path === "/stream") {
    let k = 0;
    const stream = new ReadableStream({
      async pull(c) {
        if (k === 3) { c.close(); return; }
        c.enqueue(new TextEncoder().encode(`part ${k} `.repeat(20) + "\n"));
        k++;
        await new Promise((r) => setTimeout(r, 20));
      },
    });
    return new Response(stream, { headers: { "Content-Type": "text/plain" } });
  }
  if (path === "/nocontent") return new Response(null, { status: 204 });
  const b = bodies[path];
  if (b === undefined) return new Response("not found\n", { status: 404, headers: { "Content-Type": "text/plain" } });
  return new Response(b, { headers: { "Content-Type": "text/plain" } });
});
