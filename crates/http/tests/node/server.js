// A plain Node http server with Node's default keep-alive behaviour, as under every hapi
// service of Mojaloop: idle keep-alive connections are closed by the server (Node 20: after
// keepAliveTimeout 5 s plus its 1 s buffer) and responses say `Keep-Alive: timeout=5`.
//
// Every request is answered once its body is read: PUT/PATCH 200, others 202. `POST /block?ms=N`
// first blocks the event loop for N ms, as a loaded service does: keep-alive timers that fall
// due meanwhile fire late, all at once, before the requests that arrived meanwhile are read —
// which resets those requests. `GET /seen` answers (with `Connection: close`) the requests
// counted per "METHOD path" and the connections accepted. The port goes to stdout's first line;
// the server exits when stdin closes (the test ended).
'use strict';
const http = require('http');
const seen = { requests: {}, connections: 0 };
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/seen') {
      res.setHeader('connection', 'close');
      res.end(JSON.stringify(seen));
      return;
    }
    const key = `${req.method} ${url.pathname}`;
    seen.requests[key] = (seen.requests[key] || 0) + 1;
    if (url.pathname === '/block') {
      const until = Date.now() + Number(url.searchParams.get('ms') || 0);
      while (Date.now() < until) {
        // busy: the event loop is blocked
      }
    }
    res.statusCode = req.method === 'PUT' || req.method === 'PATCH' ? 200 : 202;
    res.end();
  });
});
server.on('connection', () => {
  seen.connections += 1;
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
