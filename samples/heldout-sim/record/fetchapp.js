// The routes of wsgiapp.py as a fetch handler (Request -> Response), shared
// by bunserver.js and denoserver.js; name goes into the index page.
export function app(name) {
  const bodies = { "/": `index of the ${name} test app\n`.repeat(8), "/a.txt": "a".repeat(612) + "\n", "/b.txt": "b".repeat(1999) + "\n" };
  return async (req) => {
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
  };
}
