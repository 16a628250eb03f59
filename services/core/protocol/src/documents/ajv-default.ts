/** `#ajv` outside Node (browsers, bundlers without the "node" condition): ajv imported statically. Portable. */
import { Ajv2020 } from 'ajv/dist/2020.js'

export function loadAjv (): typeof Ajv2020 {
  return Ajv2020
}
