/* Source drivers: the one table of types, their framing, their requests. */
#include "testutil.h"
#include "config.h"
#include "config_key.h"
#include "decode.h"
#include "source_driver.h"

/* Every type once, in the order messages list them; every type but file is
 * a format with its decoder, and the decoder is found by the type's name. */
static void one_table(void **state)
{
    char names[256];
    size_t most = 0;
    (void)state;

    assert_string_equal(source_driver_names(names, sizeof names, 0),
                        "x_v2, x_v1, mastodon, jetstream, ndjson, sse, rss or file");
    assert_string_equal(source_driver_names(names, sizeof names, 1),
                        "x_v2, x_v1, mastodon, jetstream, ndjson, sse or rss");
    for (size_t i = 0; i < source_driver_count; i++) {
        const struct source_driver *d = source_drivers[i];
        assert_ptr_equal(source_driver_find(d->name), d);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(source_drivers[j]->name, d->name);
        if (d->transport == TRANSPORT_FILE) {
            assert_null(d->decoder);
            assert_null(decoder_find(d->name));
        } else {
            assert_non_null(d->decoder);
            assert_ptr_equal(decoder_find(d->name), d->decoder);
        }
        if (d->transport == TRANSPORT_WEBSOCKET)
            assert_non_null(d->url_example);
        /* a driver's keys are [source] keys, none shadowing another type's
         * under a different field */
        for (size_t k = 0; k < d->nkeys; k++)
            assert_string_equal(d->keys[k].section, "source");
        if (d->nkeys > most)
            most = d->nkeys;
    }
    assert_null(source_driver_find("twitter"));
    /* a section's key slots: every source's (8), its type's, a file's format's */
    assert_true(8 + most + most <= CONFIG_MAX_SOURCE_KEYS);
}

static void framing_by_type(void **state)
{
    struct source_conf sc = {0};
    const struct source_driver *file = source_driver_find("file");
    (void)state;

    assert_int_equal(source_driver_framing(source_driver_find("x_v2"), &sc, 0), FRAMING_LINES);
    assert_int_equal(source_driver_framing(source_driver_find("mastodon"), &sc, 0), FRAMING_SSE);
    assert_int_equal(source_driver_framing(source_driver_find("mastodon"), &sc, 1), FRAMING_LINES);
    assert_int_equal(source_driver_framing(source_driver_find("sse"), &sc, 0), FRAMING_SSE);
    assert_int_equal(source_driver_framing(source_driver_find("rss"), &sc, 0), FRAMING_DOCUMENT);
    sc.url = "https://stream.example/1.1/statuses/filter.json?delimited=length";
    assert_int_equal(source_driver_framing(source_driver_find("x_v1"), &sc, 0), FRAMING_LENGTH);
    sc.url = "https://stream.example/1.1/statuses/filter.json";
    assert_int_equal(source_driver_framing(source_driver_find("x_v1"), &sc, 0), FRAMING_LINES);
    /* a file is framed as a file of its format holds it */
    sc.url = NULL;
    sc.format = "mastodon";
    assert_int_equal(source_driver_framing(file, &sc, 0), FRAMING_LINES);
    sc.format = "rss";
    assert_int_equal(source_driver_framing(file, &sc, 0), FRAMING_DOCUMENT);
    sc.format = "sse";
    assert_int_equal(source_driver_framing(file, &sc, 0), FRAMING_SSE);
}

/* The request a driver builds, or the generic one. */
static int request(const char *type, const struct source_conf *sc, const struct source_resume *at,
                   struct source_request *rq)
{
    const struct source_driver *d = source_driver_find(type);
    const char *why = NULL;

    source_request_init(rq);
    return (d->request ? d->request : source_request_http)(sc, at, rq, &why);
}

static int has_header(const struct source_request *rq, const char *line)
{
    for (int i = 0; i < rq->nheaders; i++)
        if (strcmp(rq->headers[i], line) == 0)
            return 1;
    return 0;
}

static void requests(void **state)
{
    struct source_conf sc = {0};
    struct source_resume at = {.last_event_id = "", .etag = "", .last_modified = ""};
    struct source_request rq;
    (void)state;

    /* X v2 asks for what it missed, with ? or & as the URL needs
     * (backfill_minutes is the first field of its own settings) */
    long long backfill = 2;
    sc.driver = source_driver_find("x_v2");
    sc.own[0] = &backfill;
    sc.url = "https://api.x.example/2/tweets/search/stream";
    assert_int_equal(request("x_v2", &sc, &at, &rq), 0);
    assert_string_equal(rq.url.data, "https://api.x.example/2/tweets/search/stream?backfill_minutes=2");
    assert_int_equal(rq.nheaders, 0);
    source_request_free(&rq);
    sc.url = "https://api.x.example/2/tweets/search/stream?expansions=author_id";
    assert_int_equal(request("x_v2", &sc, &at, &rq), 0);
    assert_string_equal(rq.url.data, "https://api.x.example/2/tweets/search/stream?expansions=author_id&backfill_minutes=2");
    source_request_free(&rq);
    backfill = 0;
    assert_int_equal(request("x_v2", &sc, &at, &rq), 0);
    assert_string_equal(rq.url.data, sc.url);
    source_request_free(&rq);

    /* an event stream resumes after the last id; a polled feed is conditional */
    sc.driver = NULL;
    sc.own[0] = NULL;
    sc.url = "http://127.0.0.1:1/events";
    sc.framing = FRAMING_SSE;
    at.last_event_id = "42";
    assert_int_equal(request("sse", &sc, &at, &rq), 0);
    assert_true(has_header(&rq, "Accept: text/event-stream"));
    assert_true(has_header(&rq, "Last-Event-ID: 42"));
    assert_null(rq.headers[rq.nheaders]);
    source_request_free(&rq);
    sc.framing = FRAMING_DOCUMENT;
    sc.interval = 60;
    at.etag = "\"abc\"";
    at.last_modified = "Mon, 07 Dec 2026 00:00:00 GMT";
    assert_int_equal(request("rss", &sc, &at, &rq), 0);
    assert_true(has_header(&rq, "If-None-Match: \"abc\""));
    assert_true(has_header(&rq, "If-Modified-Since: Mon, 07 Dec 2026 00:00:00 GMT"));
    assert_false(has_header(&rq, "Last-Event-ID: 42"));
    assert_int_equal(rq.poll_interval_ms, 60000);
    source_request_free(&rq);
}

/* Jetstream: filters in the query, a cursor a few seconds before the
 * position (time_us is not ordered across repositories), none when live;
 * long filter lists go in the options_update sent once open. */
static void jetstream_request(void **state)
{
    struct source_conf sc = {0};
    struct source_resume at = {0};
    struct source_request rq;
    char dids[20000] = "";
    (void)state;

    sc.url = "wss://jetstream.example/subscribe";
    sc.collections = "app.bsky.feed.post";
    sc.dids = "did:plc:abc";
    sc.max_record = 1048576;
    assert_int_equal(request("jetstream", &sc, &at, &rq), 0);
    assert_string_equal(rq.url.data, "wss://jetstream.example/subscribe?wantedCollections=app.bsky.feed.post"
                                     "&wantedDids=did:plc:abc&maxMessageSizeBytes=1048576");
    assert_null(rq.hello);
    source_request_free(&rq);
    at.position = 1700000000000000ULL;
    sc.compress = 1;
    assert_int_equal(request("jetstream", &sc, &at, &rq), 0);
    assert_non_null(strstr(rq.url.data, "&compress=true&cursor=1699999997000000"));
    source_request_free(&rq);
    for (int i = 0; i < 500; i++)
        snprintf(dids + strlen(dids), sizeof dids - strlen(dids), "%sdid:plc:%024d", i ? "," : "", i);
    sc.dids = dids;
    assert_int_equal(request("jetstream", &sc, &at, &rq), 0);
    assert_non_null(strstr(rq.url.data, "?requireHello=true&maxMessageSizeBytes="));
    assert_null(strstr(rq.url.data, "wantedDids"));
    assert_non_null(rq.hello);
    assert_non_null(strstr(rq.hello, "\"type\":\"options_update\""));
    assert_non_null(strstr(rq.hello, "did:plc:000000000000000000000499"));
    source_request_free(&rq);
}

/* v2: its own filter names, the subprotocol, the dictionary by id, seq
 * cursors as they are (inclusive, no rewind), the saved position of the
 * other kind preferred (a v1 time before the URL moved, a refusal's). */
static void jetstream_v2_request(void **state)
{
    struct source_conf sc = {0};
    struct source_resume at = {0};
    struct source_request rq;
    (void)state;

    sc.url = "wss://jetstream.example/xrpc/network.bsky.jetstream.subscribeEvents";
    sc.collections = "app.bsky.feed.post, app.bsky.feed.*";
    sc.dids = "did:plc:abc did:web:example.com";
    sc.max_record = 65536;
    sc.compress = 1;
    at.dict_id = 1612007021;
    at.position = 4200;
    at.saved = 4100;
    assert_int_equal(request("jetstream", &sc, &at, &rq), 0);
    assert_string_equal(rq.url.data, "wss://jetstream.example/xrpc/network.bsky.jetstream.subscribeEvents?kinds=commit"
                                     "&collections=app.bsky.feed.post&collections=app.bsky.feed.*&dids=did:plc:abc"
                                     "&dids=did:web:example.com&maxMessageSizeBytes=65536&zstdDictionary=1612007021"
                                     "&cursor=4200");
    assert_string_equal(rq.protocol, "xrpc.v1.json");
    assert_true(rq.cursor == 4200);
    assert_null(rq.hello);
    source_request_free(&rq);
    /* a fleet's member got further: its saved seq */
    at.saved = 5000;
    at.dict_id = 0;                     /* the server refused the dictionary */
    assert_int_equal(request("jetstream", &sc, &at, &rq), 0);
    assert_non_null(strstr(rq.url.data, "&maxMessageSizeBytes=65536&cursor=5000"));
    source_request_free(&rq);
    /* a v1 time saved: asked as a time (rewound), whatever this run reached */
    at.saved = 1700000000000000ULL;
    assert_int_equal(request("jetstream", &sc, &at, &rq), 0);
    assert_true(rq.cursor == 1699999997000000ULL);
    source_request_free(&rq);
    /* the oldest time (a refusal's fallback) is not rewound into a seq */
    at.saved = 1000000000000000ULL;
    assert_int_equal(request("jetstream", &sc, &at, &rq), 0);
    assert_true(rq.cursor == 1000000000000000ULL);
    source_request_free(&rq);
    at.position = at.saved = 0;
    assert_int_equal(request("jetstream", &sc, &at, &rq), 0);
    assert_null(strstr(rq.url.data, "cursor="));
    assert_true(rq.cursor == 0);
    source_request_free(&rq);
    /* the legacy endpoint asks for no subprotocol */
    sc.url = "wss://jetstream.example/subscribe";
    assert_int_equal(request("jetstream", &sc, &at, &rq), 0);
    assert_null(rq.protocol);
    source_request_free(&rq);
}

/* v2's pre-upgrade XRPC errors, in the lexicon's envelope. */
static void jetstream_refusals(void **state)
{
    const struct source_driver *d = source_driver_find("jetstream");
    struct source_conf sc = {0};
    struct source_refusal rf;
    (void)state;

    sc.url = "ws://127.0.0.1:1/xrpc/network.bsky.jetstream.subscribeEvents";
    sc.dictionary = "/etc/mentiond/jetstream.zdict";
    memset(&rf, 0, sizeof rf);
    assert_int_equal(d->refused(&sc, 400, "{\"error\":\"CursorTooOld\",\"message\":\"cursor 12 is below the "
                                           "retention floor seq 3400\"}", 12, &rf), 1);
    assert_true(rf.retry && rf.lost && !rf.plain);
    assert_true(rf.resume == 3400);
    assert_non_null(strstr(rf.why, "cursor 12"));
    /* no floor in the message: the oldest time, which the server clamps */
    memset(&rf, 0, sizeof rf);
    assert_int_equal(d->refused(&sc, 400, "{\"error\":\"CursorTooOld\",\"message\":\"too old\"}", 12, &rf), 1);
    assert_true(rf.resume == 1000000000000000ULL);
    memset(&rf, 0, sizeof rf);
    assert_int_equal(d->refused(&sc, 400, "{\"error\":\"UnknownZstdDictionary\",\"message\":\"current "
                                           "dictionary is 77\"}", 12, &rf), 1);
    assert_true(rf.retry && rf.plain && !rf.lost && rf.resume == 0);
    assert_non_null(strstr(rf.why, "/etc/mentiond/jetstream.zdict"));
    memset(&rf, 0, sizeof rf);
    assert_int_equal(d->refused(&sc, 400, "{\"error\":\"InvalidRequest\",\"message\":\"wantedDids: use dids\"}",
                                12, &rf), 0);
    assert_int_equal(d->refused(&sc, 503, "{\"error\":\"CursorTooOld\"}", 12, &rf), 0);
    sc.url = "ws://127.0.0.1:1/subscribe";  /* v1 clamps; a 400 there is not this */
    assert_int_equal(d->refused(&sc, 400, "{\"error\":\"CursorTooOld\"}", 12, &rf), 0);
}

/* Mastodon, knowing the instance: each kind's stream and timeline, the
 * timeline paged forward from the position; /api/v2/instance read for the
 * feed a kind needs; a stream refused as absent polls. */
static void mastodon_instance(void **state)
{
    const struct source_driver *d = source_driver_find("mastodon");
    struct { char *instances, *stream; long long poll_interval; } own = {NULL, "hashtag:nordvik bank", 15};
    struct source_conf sc = {0};
    struct source_resume at = {.last_event_id = "", .etag = "", .last_modified = ""};
    struct source_request rq;
    struct source_refusal rf;
    char why[200];
    static const char v45[] = "{\"version\":\"4.5.0\",\"configuration\":{\"timelines_access\":{"
                              "\"live_feeds\":{\"local\":\"disabled\",\"remote\":\"authenticated\"},"
                              "\"hashtag_feeds\":{\"local\":\"public\",\"remote\":\"public\"}}}}";
    (void)state;

    sc.driver = d;
    sc.own[0] = &own;
    sc.url = "https://a.example/";
    sc.framing = FRAMING_SSE;
    assert_int_equal(request("mastodon", &sc, &at, &rq), 0);
    assert_string_equal(rq.url.data, "https://a.example/api/v1/streaming/hashtag?tag=nordvik%20bank");
    assert_true(has_header(&rq, "Accept: text/event-stream"));
    assert_false(rq.poll);
    source_request_free(&rq);
    at.poll = 1;
    at.position = 113400000000000001ULL;
    at.saved = 113400000000000000ULL;
    assert_int_equal(request("mastodon", &sc, &at, &rq), 0);
    assert_string_equal(rq.url.data, "https://a.example/api/v1/timelines/tag/nordvik%20bank?limit=40"
                                     "&since_id=113400000000000001&min_id=113400000000000001");
    assert_true(rq.poll && rq.page == 40 && rq.poll_interval_ms == 15000);
    source_request_free(&rq);
    own.stream = "public:local";
    at.position = 0;                    /* after a restart: the saved one */
    assert_int_equal(request("mastodon", &sc, &at, &rq), 0);
    assert_string_equal(rq.url.data, "https://a.example/api/v1/timelines/public?local=true&limit=40"
                                     "&since_id=113400000000000000&min_id=113400000000000000");
    source_request_free(&rq);
    at.poll = 0;
    own.stream = "list:42";
    assert_int_equal(request("mastodon", &sc, &at, &rq), 0);
    assert_string_equal(rq.url.data, "https://a.example/api/v1/streaming/list?list=42");
    source_request_free(&rq);

    /* the instance's document: 4.5 with the local live feed off */
    source_request_init(&rq);
    assert_int_equal(d->probe(&sc, &rq), 0);
    assert_string_equal(rq.url.data, "https://a.example/api/v2/instance");
    source_request_free(&rq);
    own.stream = "public";
    assert_int_equal(d->probed(&sc, 200, v45, strlen(v45), why, sizeof why), 1);
    assert_non_null(strstr(why, "Mastodon 4.5.0"));
    assert_non_null(strstr(why, "local live feeds off"));
    own.stream = "public:remote";       /* "authenticated": we have a token */
    assert_int_equal(d->probed(&sc, 200, v45, strlen(v45), why, sizeof why), 0);
    own.stream = "hashtag:bank";
    assert_int_equal(d->probed(&sc, 200, v45, strlen(v45), why, sizeof why), 0);
    own.stream = "public";
    assert_int_equal(d->probed(&sc, 404, "{\"error\":\"not found\"}", 21, why, sizeof why), 0);
    assert_int_equal(d->probed(&sc, 200, "{\"version\":\"4.1.0\"}", 19, why, sizeof why), 0);
    assert_int_equal(d->probed(&sc, 200, "garbage", 7, why, sizeof why), 0);

    memset(&rf, 0, sizeof rf);
    assert_int_equal(d->refused(&sc, 404, "", 0, &rf), 1);
    assert_true(rf.poll && rf.retry);
    assert_int_equal(d->refused(&sc, 401, "", 0, &rf), 0);
    /* a stream given by its url: as written, no document, no polling */
    sc.url = "https://a.example/api/v1/streaming/public";
    source_request_init(&rq);
    assert_int_equal(d->probe(&sc, &rq), -1);
    source_request_free(&rq);
    assert_int_equal(d->refused(&sc, 404, "", 0, &rf), 0);
    assert_int_equal(request("mastodon", &sc, &at, &rq), 0);
    assert_string_equal(rq.url.data, sc.url);
    source_request_free(&rq);
}

/* X's recent search for a gap: each rule's query from the newest id, with
 * the stream's fields, one page of 100; only when the backfill does not
 * cover the gap. */
static void x_search_catchup(void **state)
{
    struct errlist errs = {0};
    struct config *c;
    const struct source_conf *sc;
    const struct source_driver *d = source_driver_find("x_v2");
    struct source_resume at = {.last_event_id = "", .etag = "", .last_modified = ""};
    struct source_request rq;
    char text[2048], rules[600];
    const char *why = NULL;
    (void)state;

    snprintf(text, sizeof text, "[source \"x\"]\ntype = x_v2\nurl = https://api.x.example/2/tweets/search/stream"
             "?expansions=author_id&tweet.fields=lang\ntoken_file = %s\ngap_fill = search\nbackfill_minutes = 2\n"
             "[daemon]\nrules = %s\nspool_dir =\n", write_temp("x.tok", "t\n"),
             SRC_PATH(rules, "conf/rules.d/*.rules"));
    c = config_load(write_temp("xs.conf", text), &errs);
    assert_non_null(c);
    sc = c->sources;
    assert_int_equal(d->catchup(sc, 60000), CATCHUP_NONE);        /* the backfill covers 1 minute */
    assert_int_equal(d->catchup(sc, UINT64_MAX), CATCHUP_NONE);   /* and a restart */
    assert_int_equal(d->catchup(sc, 180000), CATCHUP_QUERIES);
    assert_true(source_driver_resumes(sc));
    at.poll = 1;
    at.query = "(nordvik OR @NordvikHelp) card";
    at.position = 1900000000000000029ULL;
    source_request_init(&rq);
    assert_int_equal(d->request(sc, &at, &rq, &why), 0);
    assert_string_equal(rq.url.data, "https://api.x.example/2/tweets/search/recent?query=%28nordvik%20OR%20%40NordvikHelp"
                                     "%29%20card&since_id=1900000000000000029&max_results=100"
                                     "&expansions=author_id&tweet.fields=lang");
    assert_true(rq.poll && rq.page == 100);
    source_request_free(&rq);
    config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_table),
        cmocka_unit_test(framing_by_type),
        cmocka_unit_test(requests),
        cmocka_unit_test(jetstream_request),
        cmocka_unit_test(jetstream_v2_request),
        cmocka_unit_test(jetstream_refusals),
        cmocka_unit_test(mastodon_instance),
        cmocka_unit_test(x_search_catchup),
    };
    return cmocka_run_group_tests_name("source_driver", tests, NULL, NULL);
}
