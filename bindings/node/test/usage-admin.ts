// fusebox/admin's types (compiled with tsc --noEmit --strict by the test
// script).
import { registry } from 'fusebox'
import { serve, type AdminServer, type AdminOptions } from 'fusebox/admin'

const options: AdminOptions = { address: '127.0.0.1:0', token: process.env.FUSEBOX_TOKEN }
const server: AdminServer = serve(registry, options)
const where: string = server.url
const running: boolean = server.running
console.log(where, running, server.address)
server.close()
