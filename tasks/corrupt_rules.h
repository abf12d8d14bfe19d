/* corrupt_rules.h - the offline `rules` backend of corrupt_captions: the
 * world it reads, the items it rewrites, the description renderer and the
 * edits that turn a true description into a plausible hallucination.
 *
 * An answer is a list of mentions (category, colour, position), rendered as
 * the built-in world's descriptions are: "There is a red circle in the top
 * left, a blue square in the top right and a green ring in the bottom
 * left." An edit changes the list so that it says something false of the
 * image, the three kinds of POVID's GPT-4V prompt made exact:
 *   insert    an absent category, drawn by its co-occurrence with the
 *             categories present (P(c | a) measured on the training split,
 *             averaged over the objects a in the image, raised to a power:
 *             2 by default, so the few strong partners win over the many
 *             weak ones), in its typical colour, in a free position when
 *             there is one
 *   replace   one object's category by an absent one, drawn by P(c | a) of
 *             the replaced category a (to the same power); colour and
 *             position kept
 *   recolour  one object's colour by another (the category's typical
 *             colour half the time when it is not the true one, the
 *             language prior a model falls back on; else uniform)
 *   move      one object to another position; a position held by another
 *             untouched object swaps the two (a broken relation)
 * Each edit touches a mention no earlier edit touched, so edits never undo
 * one another, and no candidate is ever one that is true of the image (an
 * inserted or replacing category present anywhere, the true colour, the
 * true position, or any (category, colour, position) of a real object).
 *
 * Everything is deterministic given the RNG (shapes.h's Philox stream).
 * Names, synonyms, typical colours, positions and co-occurrence come from
 * world.json (world.h), never from the generator's tables.
 */
#ifndef PD_CORRUPT_RULES_H
#define PD_CORRUPT_RULES_H

#include <stddef.h>

struct cJSON;
struct pd_err;
struct shapes_rng;
struct strbuf;

#define CORRUPT_MAXCAT 64
#define CORRUPT_MAXCOLOUR 32
#define CORRUPT_MAXPOS 16
#define CORRUPT_MAXOBJ 16                               /* objects per item */
#define CORRUPT_MAXEDITS 8                              /* edits per answer */
#define CORRUPT_MAXMENTION (CORRUPT_MAXOBJ + CORRUPT_MAXEDITS)

enum corrupt_kind {
  CORRUPT_INSERT,   /* an absent, co-occurring object added */
  CORRUPT_REPLACE,  /* an object's category changed to an absent one */
  CORRUPT_RECOLOUR, /* an object's colour changed */
  CORRUPT_MOVE,     /* an object's position changed (or two swapped) */
  CORRUPT_FLIP,     /* a yes/no answer flipped (question turns only) */
  CORRUPT_NKIND
};
#define CORRUPT_NRULE CORRUPT_FLIP /* the kinds a description edit draws from */

extern const char *const corrupt_kind_names[CORRUPT_NKIND]; /* "insert", ... */

enum corrupt_cooc {
  CORRUPT_COOC_OBJECTS = 0, /* objects in the training images */
  CORRUPT_COOC_MENTIONS = 1 /* categories the training descriptions name (label noise included) */
};

struct corrupt_alias {
  char *name;
  int cat;
};

struct corrupt_world {
  int ncat, ncolour, npos;
  char *cat[CORRUPT_MAXCAT];         /* canonical names */
  int typical[CORRUPT_MAXCAT];       /* typical colour, or -1 */
  char *colour[CORRUPT_MAXCOLOUR];
  char *pos[CORRUPT_MAXPOS];
  struct corrupt_alias *alias;       /* names and synonyms -> category */
  int nalias;
  size_t images;                     /* training images the statistics count */
  /* P(b | a) = images with both / images with a, per enum corrupt_cooc. */
  double cond[2][CORRUPT_MAXCAT][CORRUPT_MAXCAT];
};

/* Reads world.json (as world_write() writes it): positions, categories with
 * synonyms and typical colours, colours, and train.objects_stats /
 * train.mention_stats (count, cooccurrence). Returns 0, or an error naming
 * the file and what is missing. Release with corrupt_world_release. */
int corrupt_world_load(struct corrupt_world *w, const char *path, struct pd_err *err);
void corrupt_world_release(struct corrupt_world *w);
/* Index by name (categories: or synonym), or -1. */
int corrupt_world_category(const struct corrupt_world *w, const char *name);
int corrupt_world_colour(const struct corrupt_world *w, const char *name);
int corrupt_world_position(const struct corrupt_world *w, const char *name);

struct corrupt_mention {
  int cat, colour, pos;
};

struct corrupt_turn {
  int human;          /* 1 for "from": "human", 0 for the model's turns */
  const char *value;  /* borrowed from the item's JSON tree */
};

/* One line of items.jsonl. Strings are borrowed from root. */
struct corrupt_item {
  struct cJSON *root;
  const char *id, *image;
  int nobj;
  struct corrupt_mention obj[CORRUPT_MAXOBJ]; /* ground truth, in the file's (salience) order */
  int nnoise;                                 /* mentions flagged "noise": true */
  int nturn;
  struct corrupt_turn *turn;
};

/* Parses one items.jsonl line (len bytes, need not be NUL-terminated) into
 * it. Returns 0, or -1 with a reason in why ("not JSON", "object 2: unknown
 * colour 'teal'"); it is then released. */
int corrupt_item_parse(struct corrupt_item *it, const struct corrupt_world *w, const char *line,
                       size_t len, char *why, size_t whylen);
void corrupt_item_release(struct corrupt_item *it);

/* "There is a red circle in the top left and a blue square in the bottom
 * right." (the built-in world's style, shapes_describe); "There is nothing
 * in the image." for n = 0. */
void corrupt_describe(const struct corrupt_world *w, const struct corrupt_mention *m, int n,
                      struct strbuf *out);

/* 1 if some object of truth has m's category, colour and position. */
int corrupt_is_true(const struct corrupt_mention *truth, int n, const struct corrupt_mention *m);
/* Mentions of m[0..nm-1] that are false of the image truth[0..n-1]. */
int corrupt_false_mentions(const struct corrupt_mention *truth, int n,
                           const struct corrupt_mention *m, int nm);

struct corrupt_opts {
  double mix[CORRUPT_NRULE]; /* weights of insert, replace, recolour, move (not all 0) */
  int edits;                 /* edits per answer, 1..CORRUPT_MAXEDITS */
  int cooc;                  /* enum corrupt_cooc */
  double power;              /* candidate weight = co-occurrence^power (0: uniform) */
};

struct corrupt_edit {
  int kind;          /* enum corrupt_kind */
  int cat;           /* the object concerned (for replace: the original category) */
  int top;           /* insert/replace: the category had the highest co-occurrence weight */
  char detail[112];  /* "red -> blue", "top left -> top right (swapped with the square)" */
};

struct corrupt_result {
  int nm;
  struct corrupt_mention m[CORRUPT_MAXMENTION]; /* the rejected answer's mentions */
  int nedit;
  struct corrupt_edit edit[CORRUPT_MAXEDITS];
};

/* Rewrites truth[0..n-1] (the true description) with up to o->edits edits,
 * each of a kind drawn from o->mix among the kinds that still apply.
 * Returns the number applied, 0 when none applies (res->m is then truth). */
int corrupt_rules_apply(const struct corrupt_world *w, const struct corrupt_opts *o,
                        const struct corrupt_mention *truth, int n, struct shapes_rng *rng,
                        struct corrupt_result *res);

#endif
