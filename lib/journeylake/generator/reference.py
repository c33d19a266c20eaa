"""Reference lists the generator draws from: names, cities, products, words. Plain data."""

from __future__ import annotations

from journeylake.generator.draws import uniform
from journeylake.generator.expressions import Sql

FIRST_NAMES = (
    "Anna", "Lukas", "Emma", "Louis", "Sofia", "Mateo", "Mia", "Noah", "Lea", "Hugo", "Giulia",
    "Leon", "Chloe", "Paul", "Elena", "Lucas", "Clara", "Marco", "Ines", "Finn", "Sara", "Tom",
    "Julia", "Adam", "Nora", "Felix", "Alice", "Diego", "Marie", "Jonas", "Zoe", "Luca",
)
LAST_NAMES = (
    "Schmidt", "Martin", "Garcia", "Rossi", "Mueller", "Bernard", "Fernandez", "Bianchi", "Jansen",
    "Dubois", "Lopez", "Romano", "Weber", "Petit", "Silva", "Ricci", "Fischer", "Moreau", "Santos",
    "Visser", "Wagner", "Laurent", "Costa", "Conti", "Becker", "Leroy", "Pereira", "Colombo",
    "Hoffmann", "Murphy",
)

# (city, latitude, longitude of the centre). At least 170 km apart from each other, so the
# neighbourhood of one city's stores never reaches another's.
CITIES = (
    ("Paris", 48.8566, 2.3522),
    ("Berlin", 52.5200, 13.4050),
    ("Madrid", 40.4168, -3.7038),
    ("Rome", 41.9028, 12.4964),
    ("Amsterdam", 52.3676, 4.9041),
    ("Vienna", 48.2082, 16.3738),
    ("Brussels", 50.8503, 4.3517),
    ("Lisbon", 38.7223, -9.1393),
    ("Munich", 48.1351, 11.5820),
    ("Milan", 45.4642, 9.1900),
    ("Barcelona", 41.3874, 2.1686),
    ("Hamburg", 53.5511, 9.9937),
    ("Dublin", 53.3498, -6.2603),
    ("Copenhagen", 55.6761, 12.5683),
)
# The n-th store of a city takes the n-th district name; one has quotes and all follow a comma,
# so the stores file exercises CSV quoting.
DISTRICTS = (
    "Centre", "Gare", 'Quartier "Les Halles"', "Nord", "Sud", "Est", "Ouest", "Vieille Ville",
    "Marché", "Parc", "Université", "Port",
)

N_PRODUCTS = 400
# Steps through the catalogue to give a basket distinct products; coprime with N_PRODUCTS.
PRODUCT_STRIDE = 37
PRODUCT_WORDS = (
    "linen shirt", "trail sneakers", "rain jacket", "wool scarf", "canvas backpack",
    "denim jacket", "yoga pants", "leather belt",
)
SEARCH_TERMS = (
    "running+shoes", "rain+jacket", "linen+shirt", "sneakers", "backpack", "sunglasses",
    "wool+coat", "yoga+pants", "gift+card", "sale",
)
CATEGORY_PATHS = ("/", "/c/women", "/c/men", "/c/home", "/c/sale", "/c/new-in", "/c/kids")

WEB_BASE = "https://www.journeylake.example"
APP_BASE = "app://journeylake"

NETWORKS = ("instagram", "x", "tiktok")
BRAND_HANDLE = "journeylake"
INFLUENCERS = (
    "mara.styles", "urbanrunner", "thriftqueen", "lenawears", "streetfitlab", "minimal.marc",
    "ecochic.eva", "sneakerhead.sam", "parisinpink", "tokyo2berlin", "gymwithgio", "daily.dani",
)
HASHTAGS = (
    "journeylake", "ootd", "sale", "summerstyle", "newin", "sneakers", "sustainablefashion",
    "weekendvibes", "giveaway", "haul",
)
# `{product}` and `{target}` are filled in; quotes and commas exercise JSON escaping.
POST_TEXTS = (
    "Just picked up a {product} from @journeylake",
    "Anyone tried the new {product}? Thinking about it...",
    "Best purchase this month: the {product}!",
    "Queue at the store was long, but worth it",
    'Not happy with delivery times, "express" my foot',
    "Sale season, wallet crying, again",
)
MENTION_TEXTS = (
    "@{target} love the {product}!",
    "@{target} where is my order?",
    "@{target} any discount codes, please?",
    "Styled my {product} like @{target} did",
)


def product_id(number: Sql) -> Sql:
    """`P00001`.. for catalogue number 1..N_PRODUCTS."""
    return f"format_string('P%05d', CAST({number} AS INT))"


def unit_price(seed: int, number: Sql) -> Sql:
    """The catalogue price in EUR (DECIMAL(18,2), 4.99 to 148.99) of product `number`; the same
    wherever the product appears."""
    euros = f"floor({uniform(seed, 'product-price', f'CAST({number} AS INT)')} * 144) + 5"
    return f"CAST(CAST({euros} AS DECIMAL(18,2)) - 0.01BD AS DECIMAL(18,2))"


def product_number(u: Sql) -> Sql:
    """A catalogue number 1..N_PRODUCTS; low numbers are the best sellers (skewed by u^2)."""
    return f"CAST(floor({u} * {u} * {N_PRODUCTS}) + 1 AS INT)"


def nth_product(first: Sql, n: Sql) -> Sql:
    """The product `n` strides after `first`: distinct for n below N_PRODUCTS."""
    return f"CAST(pmod({first} - 1 + ({n}) * {PRODUCT_STRIDE}, {N_PRODUCTS}) + 1 AS INT)"


def basket_amount(items: Sql) -> Sql:
    """sum(quantity * unit_price) of an array of items, as DECIMAL(18,2)."""
    return (
        f"aggregate({items}, CAST(0 AS DECIMAL(18,2)), (_total, _item) -> "
        f"CAST(_total + _item.quantity * _item.unit_price AS DECIMAL(18,2)))"
    )
