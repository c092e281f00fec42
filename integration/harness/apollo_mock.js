'use strict'
// Runs apollo-mock-server (an npm package of another project) for rulesync's
// tests: its config service on 127.0.0.1:<port>, and a small admin API of
// ours on 127.0.0.1:<admin-port> (POST /set, /delete, /publish with a JSON
// body {app, cluster, namespace, key, value}; GET /ping). What the admin API
// did is kept in <state-file>, so that a restarted server serves the same
// configurations (apollo-mock-server itself keeps everything in memory), and
// with notification ids that go on from where they were: Apollo's ids come
// from its database and never repeat, and a client holding an id that a
// restarted server hands out again would wait for a change it already saw.
//
// usage: node apollo_mock.js <package-dir> <port> <admin-port> <state-file> <hold-ms>
const fs = require('fs')
const http = require('http')
const path = require('path')

const [pkgDir, port, adminPort, stateFile, hold] = process.argv.slice(2)
const {ConfigService, superAdmin} = require(path.join(pkgDir, 'node_modules', 'apollo-mock-server'))

let state = {}
try {
  state = JSON.parse(fs.readFileSync(stateFile, 'utf8'))
} catch (e) {
  if (e.code !== 'ENOENT') throw e
}
const namespace = k => {
  const [app, cluster, ns] = k.split('\t')
  return superAdmin.app(app).cluster(cluster).namespace(ns)
}
for (const [k, st] of Object.entries(state)) {
  const n = namespace(k)
  for (const [key, value] of Object.entries(st.configs)) n.set(key, value)
  if (st.published) {
    n.setNotificationId(st.id || 0)
    n.publish()
    st.id = n._notificationId
  }
}
const save = () => {
  fs.writeFileSync(stateFile + '.tmp', JSON.stringify(state))
  fs.renameSync(stateFile + '.tmp', stateFile)
}

save()
const service = new ConfigService({pollingTimeout: Number(hold)})
http.createServer(service.callback()).listen(Number(port), '127.0.0.1', () => {
  console.log(`apollo-mock-server on 127.0.0.1:${port}`)
})

http.createServer((req, res) => {
  let body = ''
  req.on('data', d => { body += d })
  req.on('end', () => {
    if (req.url === '/ping') {
      res.end('ok')
      return
    }
    try {
      const m = JSON.parse(body || '{}')
      const k = [m.app, m.cluster, m.namespace].join('\t')
      const st = state[k] = state[k] || {configs: {}, published: false}
      const n = namespace(k)
      switch (req.url) {
        case '/set': n.set(m.key, m.value); st.configs[m.key] = m.value; break
        case '/delete': n.delete(m.key); delete st.configs[m.key]; break
        case '/publish': n.publish(); st.published = true; st.id = n._notificationId; break
        default: res.statusCode = 404; res.end('unknown admin call'); return
      }
      save()
      res.end('ok')
    } catch (e) {
      res.statusCode = 400
      res.end(String(e))
    }
  })
}).listen(Number(adminPort), '127.0.0.1')
