// Reference-library oracle for perfbed's cross-check tests.
//
// Usage: node oracle.js IN.json OUT.json
// IN:  {"ops": [{"op": "...", ...}, ...]}
// OUT: {"results": [{"ok": true, "value": ...} | {"ok": false, "error": "..."}, ...]}
//
// Every op calls @mojaloop/sdk-standard-components (the JWS and ILP code the Mojaloop SDK,
// the testing toolkit and the hub use) exactly as its users do. Results go to a file because
// the SDK's logger writes to stdout.
'use strict';

const fs = require('node:fs');
const { Jws, Ilp, Logger } = require('@mojaloop/sdk-standard-components');

const logger = Logger.loggerFactory({ context: { app: 'perfbed-xcheck' } });

function ilp(version, secret) {
    const v = version === 'v1' ? Ilp.ILP_VERSIONS.v1 : Ilp.ILP_VERSIONS.v4;
    return Ilp.ilpFactory(v, { secret: secret || 'unused', logger });
}

const ops = {
    // Validate a request as the hub / a stock DFSP does. `body` is the parsed object.
    jws_validate({ keys, headers, body }) {
        const validator = new Jws.validator({ validationKeys: keys, logger });
        return validator.validate({ headers, body });
    },
    // Sign a request as the SDK does; returns the headers it set and the body it sends.
    jws_sign({ key, method, url, headers, body }) {
        const signer = new Jws.signer({ signingKey: key, logger });
        const req = { method, url, headers: { ...headers }, body };
        signer.sign(req);
        return { headers: req.headers, body: req.body };
    },
    ilp_response({ version, secret, quoteRequest, quoteResponse }) {
        return ilp(version, secret).getQuoteResponseIlp(quoteRequest, quoteResponse);
    },
    ilp_decode({ version, packet }) {
        const i = ilp(version);
        const d = i.decodeIlpPacket(packet);
        return {
            amount: String(d.amount),
            account: d.account,
            destination: d.destination,
            expiresAt: d.expiresAt ? new Date(d.expiresAt).toISOString() : undefined,
            executionCondition: d.executionCondition
                ? Buffer.from(d.executionCondition).toString('base64url') : undefined,
            data: Buffer.from(d.data).toString('ascii'),
            transactionObject: i.getTransactionObject(packet),
        };
    },
    ilp_calculate_fulfil({ version, secret, packet }) {
        return ilp(version, secret).calculateFulfil(packet);
    },
    ilp_validate_transfer({ version, transfer }) {
        return ilp(version).validateIlpAgainstTransferRequest(transfer);
    },
    ilp_validate_fulfil({ fulfilment, condition }) {
        return ilp('v4').validateFulfil(fulfilment, condition);
    },
};

const [input, output] = process.argv.slice(2);
const request = JSON.parse(fs.readFileSync(input, 'utf8'));
const results = request.ops.map((o) => {
    const fn = ops[o.op];
    if (!fn) return { ok: false, error: `unknown op ${o.op}` };
    try {
        const value = fn(o);
        return { ok: true, value: value === undefined ? null : value };
    } catch (e) {
        return { ok: false, error: String(e && e.message || e) };
    }
});
fs.writeFileSync(output, JSON.stringify({ results }));
