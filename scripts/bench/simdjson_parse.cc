// simdjson_parse: the experiment behind README "Performance", "a different
// JSON parser": simdjson (Debian 12's libsimdjson-dev, C++) over the same
// input as bench_rules, one record per line, best of three rounds.
//
//   simdjson_parse INPUT
//
// dom:       every record parsed whole into simdjson's tree (what yajl's
//            parse-only row does: every byte validated, nothing kept);
// ondemand:  every record validated as far as needed and the fields the X v2
//            decoder takes read out (data.id, text, author_id, created_at,
//            lang, conversation_id; includes.users[].id, username, name,
//            description, followers_count), the rest skipped unparsed.
// Prints one JSON object.  Not part of mentiond: an experiment, built only
// by make bench when the package is installed.
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string_view>

using namespace simdjson;

static double now_s()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <typename F> static double best_of_3(F f)
{
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = now_s();
        f();
        best = std::min(best, now_s() - t0);
    }
    return best;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: simdjson_parse INPUT\n");
        return 2;
    }
    padded_string input;
    if (padded_string::load(argv[1]).get(input)) {
        std::fprintf(stderr, "simdjson_parse: cannot read %s\n", argv[1]);
        return 1;
    }
    const char *base = input.data();
    size_t size = input.size(), records = 0, errors = 0, fields = 0;

    // Lines end at '\n'; the bytes after each line (the next records, then
    // the padding) are readable, as simdjson requires.
    auto each_line = [&](auto fn) {
        for (size_t at = 0; at < size;) {
            const char *nl = static_cast<const char *>(std::memchr(base + at, '\n', size - at));
            size_t end = nl ? size_t(nl - base) : size;
            if (end > at)
                fn(base + at, end - at, size + SIMDJSON_PADDING - at);
            at = end + 1;
        }
    };
    dom::parser dp;
    double dom_s = best_of_3([&] {
        records = errors = 0;
        each_line([&](const char *p, size_t len, size_t) {
            dom::element e;
            records++;
            if (dp.parse(p, len, false).get(e))
                errors++;
        });
    });
    ondemand::parser op;
    double od_s = best_of_3([&] {
        fields = 0;
        each_line([&](const char *p, size_t len, size_t cap) {
            ondemand::document doc;
            if (op.iterate(p, len, cap).get(doc))
                return;
            ondemand::object data;
            if (!doc["data"].get_object().get(data)) {
                for (auto f : data) {
                    std::string_view k, v;
                    if (f.unescaped_key().get(k))
                        break;
                    if (k == "id" || k == "text" || k == "author_id" || k == "created_at" || k == "lang" ||
                        k == "conversation_id")
                        fields += !f.value().get_string().get(v);
                }
            }
            ondemand::array users;
            if (!doc["includes"]["users"].get_array().get(users)) {
                for (auto u : users) {
                    ondemand::object uo;
                    if (u.get_object().get(uo))
                        break;
                    for (auto f : uo) {
                        std::string_view k, v;
                        int64_t n;
                        if (f.unescaped_key().get(k))
                            break;
                        if (k == "id" || k == "username" || k == "name" || k == "description")
                            fields += !f.value().get_string().get(v);
                        else if (k == "public_metrics")
                            fields += !f.value()["followers_count"].get_int64().get(n);
                    }
                }
            }
        });
    });
    std::printf("{\"records\": %zu, \"errors\": %zu, \"bytes\": %zu, \"fields\": %zu, \"dom_s\": %.4f, "
                "\"ondemand_s\": %.4f, \"implementation\": \"%s\"}\n",
                records, errors, size, fields, dom_s, od_s, get_active_implementation()->name().c_str());
    return 0;
}
