// `npm run schema`: regenerate schema/scenario.schema.json from src/scenario/schema.ts.
import { writeFileSync } from 'node:fs';
import { scenarioJsonSchema } from '../../src/scenario/schema.ts';
writeFileSync('schema/scenario.schema.json', JSON.stringify(scenarioJsonSchema(), null, 2) + '\n');
console.log('wrote schema/scenario.schema.json');
