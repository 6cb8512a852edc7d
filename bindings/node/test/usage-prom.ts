// fusebox/prom's types against prom-client's (compiled with tsc --noEmit
// --strict by the test script, prom-client installed).
import { Registry } from 'prom-client'
import { registry, KeyedBreakers } from 'fusebox'
import { register, parse, type Family } from 'fusebox/prom'

async function scrape (): Promise<string> {
  const reg = new Registry()
  const names: string[] = register(reg, registry)
  register(new Registry(), new KeyedBreakers({ capacity: 16 }))
  const calls: Family | undefined = parse(registry.prometheus()).get('fusebox_calls_total')
  console.log(names.length, calls?.values.length)
  return await reg.metrics()
}

void scrape()
