// Reference-library oracle for perfbed's cross-check tests.
//
// Usage: node oracle.js IN.json OUT.json
// IN:  {"ops": [{"op": "...", ...}, ...]}
// OUT: {"results": [{"ok": true, "value": ...} | {"ok": false, "error": "..."}, ...]}
//
// Every op calls @mojaloop/sdk-standard-components (the JWS and ILP code the Mojaloop SDK,
// the testing toolkit and the hub use), or for ISO 20022 mode ml-schema-transformer-lib and
// central-services-shared, exactly as their users do. Results go to a file because
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

// ISO 20022 mode: @mojaloop/ml-schema-transformer-lib (the switch's and the SDK's FSPIOP <->
// ISO transforms) and central-services-shared's OpenapiBackend on the switch's own ISO OpenAPI
// files (../specs, what ml-api-adapter, quoting-service and the ALS validate requests with).
// Loaded on first use: the specs take seconds to load, so tests batch their ops into one call.
let iso;
function isoLibs() {
    if (!iso) {
        process.env.MLST_LOG_LEVEL = process.env.MLST_LOG_LEVEL || 'error';
        process.env.LOG_LEVEL = process.env.LOG_LEVEL || 'error';
        for (const k of ['warn', 'log']) {
            const f = console[k];
            console[k] = (...a) => { if (/unknown format|strict mode/.test(String(a[0]))) return; f(...a); };
        }
        const { TransformFacades } = require('@mojaloop/ml-schema-transformer-lib');
        const { Util } = require('@mojaloop/central-services-shared');
        iso = { T: TransformFacades, Util, apis: {} };
    }
    return iso;
}

const SPECS = {
    parties: 'account-lookup-service/api-swagger-iso20022-parties.yaml',
    quotes: 'quoting-service/QuotingService-swagger_iso20022.yaml',
    transfers: 'ml-api-adapter/api-swagger-iso20022-transfers.yaml',
};

async function switchApi(resource) {
    const l = isoLibs();
    const spec = SPECS[resource];
    if (!spec) throw new Error(`no switch spec for ${resource}`);
    l.apis[spec] ||= await l.Util.OpenapiBackend.initialise(
        require('node:path').join(__dirname, '..', 'specs', spec), {});
    return l.apis[spec];
}

Object.assign(ops, {
    // Validates a request (method, path, headers, parsed body) as the ISO-mode switch's
    // OpenAPI validation does: {valid, errors}.
    async iso_switch_validate({ resource, method, path, headers, body }) {
        const v = (await switchApi(resource)).validateRequest({ method, path, headers, body });
        return { valid: !!v.valid, errors: v.valid ? null : JSON.stringify(v.errors).slice(0, 2000) };
    },
    // The switch's header check (FSPIOPHeaderValidation with apiType iso20022).
    iso_headers({ resource, contentType, accept }) {
        const H = isoLibs().Util.HeaderValidation;
        return {
            contentType: H.parseContentTypeHeader(resource, contentType, 'iso20022').valid,
            accept: accept === undefined || accept === null
                ? null : H.parseAcceptHeader(resource, accept, 'iso20022').valid,
        };
    },
    // ISO -> FSPIOP as the switch's ingress and the ISO-mode SDK do.
    async iso_to_fspiop({ resource, facade, body, headers, params }) {
        const out = await isoLibs().T.FSPIOPISO20022[resource][facade](
            { body: structuredClone(body), headers: headers || {}, params: params || {} }, {});
        return out.body;
    },
    // FSPIOP -> ISO as the SDK and the switch's own messages do; `context` is the lib's
    // $context (isoPostQuote, isoPostQuoteResponse).
    async fspiop_to_iso({ resource, facade, body, headers, params, context }) {
        const src = { body: structuredClone(body), headers: headers || {}, params: params || {} };
        if (context) src.$context = structuredClone(context);
        const out = await isoLibs().T.FSPIOP[resource][facade](src, { unrollExtensions: true });
        return out.body;
    },
});

const [input, output] = process.argv.slice(2);
const request = JSON.parse(fs.readFileSync(input, 'utf8'));
(async () => {
    const results = [];
    for (const o of request.ops) {
        const fn = ops[o.op];
        if (!fn) {
            results.push({ ok: false, error: `unknown op ${o.op}` });
            continue;
        }
        try {
            const value = await fn(o);
            results.push({ ok: true, value: value === undefined ? null : value });
        } catch (e) {
            results.push({ ok: false, error: String(e && e.message || e) });
        }
    }
    fs.writeFileSync(output, JSON.stringify({ results }));
    // The ISO libraries keep handles open (loggers, caches): the answer is written, so stop.
    process.exit(0);
})();
