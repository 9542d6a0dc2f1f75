/* cluster: hash slots, routing keys and redirects, as a Redis Cluster
 * computes and sends them (slots checked against redis-py's key_slot and
 * the specification's CRC16 check value). */
#include "testutil.h"
#include "cluster.h"

#include <string.h>

static int slot(const char *k)
{
    return cluster_slot(k, strlen(k));
}

static void slots_as_redis_computes_them(void **state)
{
    (void)state;
    assert_int_equal(slot("123456789"), 0x31C3);       /* CRC16-XMODEM's check value */
    assert_int_equal(slot("foo"), 12182);
    assert_int_equal(slot("bar"), 5061);
    assert_int_equal(slot(""), 0);
    /* hash tags: the first {...} with something inside */
    assert_int_equal(slot("{user1000}.following"), 3443);
    assert_int_equal(slot("{user1000}.followers"), 3443);
    assert_int_equal(slot("foo{}{bar}"), 8363);        /* empty first tag: the whole key */
    assert_int_equal(slot("foo{{bar}}zap"), 4015);     /* the tag is "{bar" */
    assert_int_equal(slot("foo{bar}{zap}"), 5061);     /* the first tag only: "bar" */
    assert_int_equal(slot("mentiond:{care}:q:high"), 15469);
    assert_int_equal(slot("mentiond:{care}:seen:x-main:1"), slot("mentiond:{care}:q:low"));
    assert_int_equal(slot("foo{"), cluster_slot("foo{", 4));
}

static void routing_keys(void **state)
{
    const char *evalsha[] = {"EVALSHA", "abc", "2", "k1", "k2", "arg"};
    const char *eval0[] = {"EVAL", "return 1", "0"};
    const char *xgroup[] = {"XGROUP", "CREATE", "mentiond:s:care:high", "workers", "0", "MKSTREAM"};
    const char *get[] = {"GET", "k"};
    const char *script[] = {"SCRIPT", "LOAD", "return 1"};
    const char *time_[] = {"time"};
    const char *short_eval[] = {"EVAL", "return 1", "1"};

    (void)state;
    assert_int_equal(cluster_command_key(6, evalsha), 3);
    assert_int_equal(cluster_command_key(3, eval0), CLUSTER_KEYLESS);
    assert_int_equal(cluster_command_key(3, short_eval), CLUSTER_KEYLESS);   /* numkeys 1, no key given */
    assert_int_equal(cluster_command_key(6, xgroup), 2);
    assert_int_equal(cluster_command_key(2, get), 1);
    assert_int_equal(cluster_command_key(3, script), CLUSTER_EVERY_NODE);
    assert_int_equal(cluster_command_key(1, time_), CLUSTER_KEYLESS);
    assert_int_equal(cluster_command_key(1, get), CLUSTER_KEYLESS);          /* GET without its key */
}

static void redirects(void **state)
{
    struct cluster_target t;

    (void)state;
    assert_int_equal(cluster_parse_error("MOVED 3999 127.0.0.1:6381", &t), CLUSTER_MOVED);
    assert_int_equal(t.slot, 3999);
    assert_string_equal(t.host, "127.0.0.1");
    assert_int_equal(t.port, 6381);
    assert_int_equal(cluster_parse_error("ASK 16383 ::1:7000", &t), CLUSTER_ASK);
    assert_string_equal(t.host, "::1");
    assert_int_equal(t.port, 7000);
    assert_int_equal(cluster_parse_error("MOVED 12 :7001", &t), CLUSTER_MOVED);   /* no host: the node asked */
    assert_string_equal(t.host, "");
    assert_int_equal(cluster_parse_error("TRYAGAIN Multiple keys request during rehashing of slot", &t),
                     CLUSTER_TRYAGAIN);
    assert_int_equal(cluster_parse_error("CLUSTERDOWN The cluster is down", &t), CLUSTER_DOWN);
    /* what does not parse is an ordinary error, for the caller */
    assert_int_equal(cluster_parse_error("MOVED 16384 127.0.0.1:1", &t), CLUSTER_NONE);
    assert_int_equal(cluster_parse_error("MOVED x 127.0.0.1:1", &t), CLUSTER_NONE);
    assert_int_equal(cluster_parse_error("MOVED 1 127.0.0.1", &t), CLUSTER_NONE);
    assert_int_equal(cluster_parse_error("MOVED 1 127.0.0.1:0", &t), CLUSTER_NONE);
    assert_int_equal(cluster_parse_error("ERR unknown command", &t), CLUSTER_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slots_as_redis_computes_them),
        cmocka_unit_test(routing_keys),
        cmocka_unit_test(redirects),
    };
    return cmocka_run_group_tests_name("cluster", tests, NULL, NULL);
}
