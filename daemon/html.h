/* html: plain text from the HTML of a Mastodon status or an RSS/Atom item.
 *
 * Tags are removed; character references (named, decimal, hex) decoded;
 * <br> becomes a line break and paragraphs, list items and block quotes
 * are separated by line breaks; the content of <script> and <style> is
 * dropped.  A link that is not a mention or a hashtag (Mastodon marks
 * those with class "mention"/"hashtag") is written as its href, since the
 * visible text of a link may be shortened, and the href is also appended
 * to links (NUL-separated) when links is not NULL.  Mentions and hashtags
 * keep their visible text ("@user", "#tag").  The output is valid UTF-8 if
 * the input is; references to invalid code points become U+FFFD.
 * Returns 0, or -1 if out would pass its cap.
 */
#ifndef MENTIOND_HTML_H
#define MENTIOND_HTML_H

#include "buf.h"

#include <stddef.h>

int html_to_text(const char *html, size_t n, struct buf *out, struct buf *links);
/* Append the UTF-8 encoding of code point cp (U+FFFD if invalid). */
int html_put_utf8(struct buf *out, unsigned long cp);

#endif
