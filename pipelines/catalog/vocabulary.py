"""Vocabulary of the demo catalog: taxonomy, brands, product types and their attributes.

It is deliberately tricky for a search engine: brands span categories (Samsung sells phones and
fridges, Nike shoes and footballs), one word means different things ("apple" the fruit, "Apple" the
brand; "mouse" the gadget and the toy), accessories name the product they fit ("case for Apple
iPhone 15"), and product families differ only by colour or size (near-duplicates).
The word "couch" appears nowhere: sofas are called sofas, so only a synonym rule (synonyms/) finds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COLORS = [
    "black",
    "white",
    "silver",
    "gray",
    "blue",
    "navy",
    "red",
    "green",
    "pink",
    "beige",
    "brown",
    "yellow",
]
APPAREL_SIZES = ["XS", "S", "M", "L", "XL", "XXL"]
SHOE_SIZES = ["6", "7", "8", "9", "10", "11", "12"]

PHONE_MODELS = {
    "Apple": ["iPhone 15", "iPhone 15 Pro", "iPhone 14", "iPhone SE"],
    "Samsung": ["Galaxy S24", "Galaxy S24 Ultra", "Galaxy A55", "Galaxy Z Flip5"],
    "Google": ["Pixel 8", "Pixel 8 Pro", "Pixel 7a"],
    "OnePlus": ["OnePlus 12", "Nord 3"],
}
LAPTOP_MODELS = {
    "Apple": ["MacBook Air 13", "MacBook Pro 14", "MacBook Pro 16"],
    "Dell": ["XPS 13", "Inspiron 15", "Latitude 7440"],
    "Lenovo": ["ThinkPad X1 Carbon", "IdeaPad 5", "Yoga 7"],
    "HP": ["Spectre x360", "Pavilion 15", "EliteBook 840"],
    "Asus": ["ZenBook 14", "ROG Zephyrus G14", "VivoBook 15"],
}


@dataclass(frozen=True)
class ProductType:
    """One leaf of the taxonomy and how to make plausible products for it."""

    path: tuple[str, ...]
    nouns: tuple[str, ...]
    brands: tuple[str, ...]
    price: tuple[float, float]
    templates: tuple[str, ...]
    attributes: dict[str, list[str]] = field(default_factory=dict)
    adjectives: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    models: dict[str, list[str]] = field(default_factory=dict)
    targets: dict[str, list[str]] = field(default_factory=dict)  # accessories: what they fit
    weight: float = 1.0
    variants: tuple[str, ...] = ("color",)  # attributes whose values make near-duplicate family members


def _t(*items: str) -> tuple[str, ...]:
    return tuple(items)


PRODUCT_TYPES: list[ProductType] = [
    # Electronics
    ProductType(
        ("Electronics", "Phones", "Smartphones"),
        _t("smartphone", "phone"),
        _t("Apple", "Samsung", "Google", "OnePlus"),
        (199, 1399),
        _t("{brand} {model} {storage} {noun}", "{brand} {model} 5G {noun} - {color}"),
        {"color": ["black", "white", "blue", "silver", "green"], "storage": ["128GB", "256GB", "512GB"]},
        _t("unlocked", "5G", "dual SIM"),
        _t("OLED display", "all-day battery", "triple camera"),
        models=PHONE_MODELS,
        weight=2.0,
        variants=("color", "storage"),
    ),
    ProductType(
        ("Electronics", "Accessories", "Phone Cases"),
        _t("case", "phone case", "cover"),
        _t("Spigen", "OtterBox", "Basics Co.", "Caseology"),
        (9, 59),
        _t(
            "{brand} {adjective} {noun} for {target}", "{adjective} {noun} compatible with {target} - {color}"
        ),
        {"color": COLORS, "material": ["silicone", "leather", "polycarbonate", "TPU"]},
        _t("slim", "rugged", "clear", "shockproof", "magnetic"),
        _t("drop protection", "raised bezels"),
        targets=PHONE_MODELS,
        weight=1.5,
    ),
    ProductType(
        ("Electronics", "Accessories", "Chargers & Cables"),
        _t("charger", "charging cable", "power adapter"),
        _t("Anker", "Belkin", "Apple", "Samsung", "Basics Co."),
        (8, 79),
        _t("{brand} {wattage} USB-C {noun} for {target}", "{brand} {adjective} {noun} {length}"),
        {
            "wattage": ["20W", "30W", "45W", "65W", "100W"],
            "length": ["3 ft", "6 ft", "10 ft"],
            "color": ["black", "white"],
        },
        _t("fast", "braided", "compact", "wireless"),
        _t("fast charging", "universal compatibility"),
        targets={**PHONE_MODELS, **LAPTOP_MODELS},
    ),
    ProductType(
        ("Electronics", "Computers", "Laptops"),
        _t("laptop", "notebook"),
        _t("Apple", "Dell", "Lenovo", "HP", "Asus"),
        (399, 3299),
        _t("{brand} {model} {noun} {ram} RAM {storage} SSD", "{brand} {model} {screen} {noun} - {color}"),
        {
            "ram": ["8GB", "16GB", "32GB"],
            "storage": ["256GB", "512GB", "1TB"],
            "screen": ["13-inch", "14-inch", "15.6-inch", "16-inch"],
            "color": ["silver", "gray", "black"],
        },
        _t("lightweight", "gaming", "2-in-1", "business"),
        _t("backlit keyboard", "long battery life"),
        models=LAPTOP_MODELS,
        weight=1.5,
        variants=("ram", "storage"),
    ),
    ProductType(
        ("Electronics", "Computers", "Mice & Keyboards"),
        _t("wireless mouse", "mechanical keyboard", "mouse"),
        _t("Logitech", "Razer", "Microsoft", "Basics Co."),
        (12, 179),
        _t("{brand} {adjective} {noun}", "{brand} {adjective} {noun} - {color}"),
        {"color": ["black", "white", "gray", "pink"], "connectivity": ["Bluetooth", "USB receiver", "wired"]},
        _t("ergonomic", "silent", "RGB", "compact"),
        _t("long battery life", "programmable buttons"),
    ),
    ProductType(
        ("Electronics", "Audio", "Headphones"),
        _t("headphones", "earbuds"),
        _t("Sony", "Bose", "Apple", "Samsung", "JBL"),
        (19, 549),
        _t("{brand} {adjective} {noun} - {color}", "{brand} {series} {adjective} {noun}"),
        {"color": ["black", "white", "silver", "blue"], "type": ["over-ear", "in-ear", "on-ear"]},
        _t("noise cancelling", "wireless", "sport", "studio"),
        _t("active noise cancellation", "30-hour battery"),
        models={
            "Sony": ["WH-1000XM5", "WF-1000XM5"],
            "Bose": ["QuietComfort Ultra", "SoundLink"],
            "Apple": ["AirPods Pro", "AirPods Max"],
            "Samsung": ["Galaxy Buds2 Pro"],
            "JBL": ["Tune 760NC", "Live Pro 2"],
        },
    ),
    ProductType(
        ("Electronics", "TV & Video", "Televisions"),
        _t("TV", "smart TV", "television"),
        _t("Samsung", "LG", "Sony", "TCL", "Hisense"),
        (179, 2999),
        _t("{brand} {screen} {resolution} {adjective} {noun}", "{brand} {screen} {noun} {resolution} HDR"),
        {
            "screen": ["43-inch", "50-inch", "55-inch", "65-inch", "75-inch"],
            "resolution": ["4K", "8K", "1080p"],
        },
        _t("QLED", "OLED", "smart", "LED"),
        _t("HDR10", "voice remote", "built-in streaming apps"),
        variants=("screen",),
    ),
    # Fashion
    ProductType(
        ("Fashion", "Men", "Shirts"),
        _t("t-shirt", "shirt", "polo shirt"),
        _t("Levi's", "Nike", "Adidas", "Uniqlo", "Basics Co."),
        (9, 89),
        _t("{brand} men's {adjective} {noun} - {color}", "{brand} {material} {noun} for men"),
        {"color": COLORS, "size": APPAREL_SIZES, "material": ["cotton", "linen", "polyester", "merino wool"]},
        _t("slim fit", "classic", "crew neck", "short sleeve"),
        _t("breathable fabric", "machine washable"),
        weight=1.5,
        variants=("color", "size"),
    ),
    ProductType(
        ("Fashion", "Women", "Dresses"),
        _t("dress", "maxi dress", "midi dress"),
        _t("Zara", "H&M", "Uniqlo", "Levi's"),
        (19, 149),
        _t("{brand} women's {adjective} {noun} - {color}", "{brand} {material} {noun}"),
        {"color": COLORS, "size": APPAREL_SIZES, "material": ["cotton", "linen", "silk", "viscose"]},
        _t("floral", "wrap", "sleeveless", "casual"),
        _t("flowing silhouette", "side pockets"),
        variants=("color", "size"),
    ),
    ProductType(
        ("Fashion", "Shoes", "Sneakers"),
        _t("sneakers", "running shoes", "trainers"),
        _t("Nike", "Adidas", "New Balance", "Asics", "Puma"),
        (39, 219),
        _t("{brand} {series} {adjective} {noun} - {color}", "{brand} men's {noun} size {shoe_size}"),
        {"color": COLORS, "shoe_size": SHOE_SIZES, "material": ["mesh", "leather", "knit"]},
        _t("running", "lightweight", "cushioned", "trail"),
        _t("responsive foam", "breathable upper"),
        models={
            "Nike": ["Air Zoom Pegasus 40", "Air Max 90", "Revolution 7"],
            "Adidas": ["Ultraboost 23", "Samba OG", "Runfalcon 3"],
            "New Balance": ["Fresh Foam 1080", "574"],
            "Asics": ["Gel-Kayano 30", "Gel-Nimbus 25"],
            "Puma": ["Velocity Nitro 2"],
        },
        weight=1.5,
        variants=("color", "shoe_size"),
    ),
    ProductType(
        ("Fashion", "Accessories", "Bags"),
        _t("backpack", "tote bag", "crossbody bag"),
        _t("Herschel", "Fjallraven", "Coach", "Basics Co."),
        (19, 399),
        _t("{brand} {adjective} {material} {noun} - {color}", "{brand} {noun} {capacity}"),
        {
            "color": COLORS,
            "material": ["canvas", "leather", "nylon"],
            "capacity": ["15L", "20L", "25L", "30L"],
        },
        _t("water-resistant", "vintage", "travel", "everyday"),
        _t("padded laptop sleeve", "zip pockets"),
    ),
    # Books
    ProductType(
        ("Books", "Fiction", "Mystery & Thriller"),
        _t("novel", "thriller", "mystery novel"),
        _t("Penguin", "HarperCollins", "Vintage", "Random House"),
        (7, 29),
        _t("{book_title}: A {adjective} {noun}", "{book_title} ({format})"),
        {"format": ["paperback", "hardcover", "ebook"], "language": ["English"]},
        _t("gripping", "bestselling", "psychological", "page-turning"),
        _t(
            "award-winning author",
        ),
        variants=("format",),
    ),
    ProductType(
        ("Books", "Non-Fiction", "Cookbooks"),
        _t("cookbook", "recipe book"),
        _t("Penguin", "Clarkson Potter", "Phaidon"),
        (12, 45),
        _t("{book_title}: {adjective} recipes {noun}", "The {adjective} {noun}: {book_title}"),
        {
            "format": ["paperback", "hardcover"],
            "cuisine": ["Italian", "vegan", "baking", "Japanese", "Mexican"],
        },
        _t("easy", "healthy", "family", "one-pot"),
        _t(
            "photographed recipes",
        ),
        variants=("format",),
    ),
    ProductType(
        ("Books", "Non-Fiction", "Technology"),
        _t("guide", "handbook", "book"),
        _t("O'Reilly", "No Starch Press", "Manning"),
        (19, 69),
        _t("{book_title}: The {adjective} {noun}", "{book_title} ({format})"),
        {"format": ["paperback", "ebook"], "topic": ["Python", "machine learning", "search engines", "Rust"]},
        _t("practical", "definitive", "complete", "hands-on"),
        _t(
            "code examples",
        ),
        variants=("format",),
    ),
    ProductType(
        ("Books", "Children's Books", "Picture Books"),
        _t("picture book", "board book"),
        _t("Scholastic", "Penguin", "Usborne"),
        (5, 19),
        _t("{book_title}: A {adjective} {noun}", "{book_title} {noun}"),
        {"format": ["board book", "hardcover", "paperback"], "age": ["0-2", "3-5", "6-8"]},
        _t("bedtime", "illustrated", "interactive", "lift-the-flap"),
        _t(
            "colourful illustrations",
        ),
    ),
    # Home & Kitchen
    ProductType(
        ("Home & Kitchen", "Furniture", "Sofas"),
        _t("sofa", "sectional sofa", "loveseat", "sofa bed"),
        _t("IKEA", "Ashley", "Zinus", "West Elm"),
        (249, 2499),
        _t("{brand} {adjective} {seats} {noun} - {color}", "{brand} {material} {noun}, {color}"),
        {
            "color": ["gray", "beige", "navy", "green", "brown"],
            "material": ["velvet", "linen", "leather", "fabric"],
            "seats": ["2-seat", "3-seat", "4-seat"],
        },
        _t("mid-century", "modern", "convertible", "reclining"),
        _t("solid wood frame", "removable cushions"),
        variants=("color",),
    ),
    ProductType(
        ("Home & Kitchen", "Furniture", "Tables"),
        _t("coffee table", "dining table", "side table"),
        _t("IKEA", "Ashley", "Walker Edison", "West Elm"),
        (49, 1299),
        _t("{brand} {adjective} {material} {noun}", "{brand} {noun} - {color}"),
        {"color": ["black", "white", "brown", "natural"], "material": ["oak", "walnut", "glass", "metal"]},
        _t("round", "rustic", "extendable", "industrial"),
        _t(
            "easy assembly",
        ),
    ),
    ProductType(
        ("Home & Kitchen", "Kitchen", "Cookware"),
        _t("frying pan", "saucepan", "dutch oven", "cookware set"),
        _t("Le Creuset", "Lodge", "T-fal", "Cuisinart", "Basics Co."),
        (19, 449),
        _t("{brand} {adjective} {material} {noun} {size_cm}", "{brand} {noun} - {color}"),
        {
            "color": ["black", "red", "blue", "cream"],
            "material": ["cast iron", "stainless steel", "nonstick"],
            "size_cm": ["20cm", "24cm", "28cm"],
        },
        _t("nonstick", "induction-ready", "enameled", "professional"),
        _t("oven safe", "even heating"),
    ),
    ProductType(
        ("Home & Kitchen", "Kitchen", "Small Appliances"),
        _t("blender", "coffee maker", "air fryer", "toaster"),
        _t("Ninja", "Cuisinart", "Breville", "KitchenAid", "Samsung"),
        (29, 599),
        _t("{brand} {adjective} {noun} - {color}", "{brand} {capacity_l} {noun}"),
        {"color": ["black", "silver", "white", "red"], "capacity_l": ["1L", "1.5L", "4 qt", "6 qt"]},
        _t("compact", "programmable", "digital", "high-speed"),
        _t(
            "dishwasher-safe parts",
        ),
    ),
    ProductType(
        ("Home & Kitchen", "Appliances", "Refrigerators"),
        _t("refrigerator", "fridge", "mini fridge"),
        _t("Samsung", "LG", "Whirlpool", "GE"),
        (149, 3499),
        _t("{brand} {capacity_cuft} {adjective} {noun}", "{brand} {noun} - {color}"),
        {
            "color": ["stainless steel", "white", "black"],
            "capacity_cuft": ["3.1 cu ft", "18 cu ft", "28 cu ft"],
        },
        _t("french door", "side-by-side", "compact", "energy star"),
        _t("ice maker", "LED lighting"),
    ),
    ProductType(
        ("Home & Kitchen", "Bedding", "Sheets"),
        _t("sheet set", "duvet cover", "pillowcases"),
        _t("Brooklinen", "IKEA", "Basics Co.", "Parachute"),
        (19, 249),
        _t("{brand} {adjective} {material} {noun} - {bed_size}", "{brand} {noun} {color}"),
        {
            "color": COLORS,
            "material": ["cotton", "linen", "bamboo", "microfiber"],
            "bed_size": ["twin", "full", "queen", "king"],
        },
        _t("percale", "sateen", "breathable", "organic"),
        _t(
            "deep pockets",
        ),
        variants=("color", "bed_size"),
    ),
    # Sports & Outdoors
    ProductType(
        ("Sports & Outdoors", "Outdoor Recreation", "Camping"),
        _t("tent", "sleeping bag", "camping chair"),
        _t("Coleman", "REI Co-op", "The North Face", "Kelty"),
        (19, 599),
        _t("{brand} {adjective} {persons} {noun}", "{brand} {noun} - {color}"),
        {
            "color": ["green", "orange", "blue", "gray"],
            "persons": ["1-person", "2-person", "4-person", "6-person"],
        },
        _t("lightweight", "waterproof", "backpacking", "family"),
        _t("easy setup", "packs small"),
    ),
    ProductType(
        ("Sports & Outdoors", "Outdoor Recreation", "Drinkware"),
        _t("water bottle", "tumbler", "thermos"),
        _t("Hydro Flask", "Yeti", "Stanley", "Nalgene", "CamelBak"),
        (9, 59),
        _t("{brand} {capacity_oz} {adjective} {noun} - {color}", "{brand} {adjective} {material} {noun}"),
        {
            "color": COLORS,
            "capacity_oz": ["18 oz", "24 oz", "32 oz", "40 oz"],
            "material": ["stainless steel", "BPA-free plastic"],
        },
        _t("insulated", "vacuum insulated", "leakproof", "wide mouth"),
        _t("keeps drinks cold for 24 hours", "fits car cup holders"),
        variants=("color", "capacity_oz"),
    ),
    ProductType(
        ("Sports & Outdoors", "Fitness", "Yoga"),
        _t("yoga mat", "yoga block", "resistance bands"),
        _t("Manduka", "Gaiam", "Lululemon", "Basics Co."),
        (9, 129),
        _t("{brand} {adjective} {noun} - {color}", "{brand} {thickness} {noun}"),
        {"color": COLORS, "thickness": ["4mm", "6mm", "10mm"], "material": ["TPE", "natural rubber", "PVC"]},
        _t("non-slip", "extra thick", "eco-friendly", "travel"),
        _t(
            "carrying strap",
        ),
    ),
    ProductType(
        ("Sports & Outdoors", "Team Sports", "Balls"),
        _t("soccer ball", "basketball", "football"),
        _t("Nike", "Adidas", "Wilson", "Spalding"),
        (12, 159),
        _t("{brand} {adjective} {noun} size {ball_size}", "{brand} {series} {noun}"),
        {"ball_size": ["3", "4", "5", "7"], "color": ["white", "orange", "black", "yellow"]},
        _t("official", "training", "indoor", "outdoor"),
        _t(
            "durable cover",
        ),
        models={
            "Nike": ["Flight", "Strike"],
            "Adidas": ["Al Rihla", "Tiro League"],
            "Wilson": ["NCAA Evolution", "NFL Duke"],
            "Spalding": ["TF-1000", "React"],
        },
    ),
    ProductType(
        ("Sports & Outdoors", "Cycling", "Bikes"),
        _t("bike", "bicycle", "mountain bike", "e-bike"),
        _t("Trek", "Specialized", "Giant", "Schwinn"),
        (249, 4999),
        _t("{brand} {series} {adjective} {noun} {frame}", "{brand} {adjective} {noun} - {color}"),
        {
            "color": ["black", "red", "blue", "white"],
            "frame": ["S", "M", "L", "XL"],
            "wheel": ['27.5"', '29"', "700c"],
        },
        _t("hybrid", "road", "trail", "commuter"),
        _t("hydraulic disc brakes", "aluminum frame"),
        models={
            "Trek": ["Marlin 5", "FX 3"],
            "Specialized": ["Rockhopper", "Sirrus"],
            "Giant": ["Talon 3", "Escape 2"],
            "Schwinn": ["Wayfarer"],
        },
    ),
    # Grocery
    ProductType(
        ("Grocery", "Fresh Produce", "Fruit"),
        _t("apples", "bananas", "oranges", "strawberries", "apple"),
        _t("Fresh Farms", "Organic Valley", "Sunkist", "Whole Harvest"),
        (2, 12),
        _t("{brand} {adjective} {variety} {noun} {pack}", "{adjective} {variety} {noun}, {pack}"),
        {
            "variety": ["Gala", "Honeycrisp", "Fuji", "Granny Smith", "Navel", "Cavendish"],
            "pack": ["1 lb", "3 lb bag", "5 lb bag", "6 count"],
        },
        _t("organic", "fresh", "sweet", "crisp"),
        _t("locally grown", "hand picked"),
        variants=("pack",),
    ),
    ProductType(
        ("Grocery", "Pantry", "Coffee & Tea"),
        _t("ground coffee", "coffee beans", "green tea", "coffee pods"),
        _t("Lavazza", "Starbucks", "Twinings", "Peet's"),
        (4, 29),
        _t("{brand} {roast} {adjective} {noun} {weight}", "{brand} {noun}, {weight}"),
        {"roast": ["light roast", "medium roast", "dark roast"], "weight": ["12 oz", "2 lb", "100 count"]},
        _t("organic", "single origin", "decaf", "fair trade"),
        _t(
            "rich aroma",
        ),
        variants=("weight",),
    ),
    ProductType(
        ("Grocery", "Pantry", "Snacks"),
        _t("granola bars", "potato chips", "trail mix", "apple chips"),
        _t("KIND", "Lay's", "Nature Valley", "Whole Harvest"),
        (2, 19),
        _t("{brand} {flavor} {noun} {pack}", "{brand} {adjective} {noun}"),
        {
            "flavor": ["sea salt", "honey", "chocolate", "apple cinnamon", "barbecue"],
            "pack": ["6 pack", "12 pack", "family size"],
        },
        _t("gluten-free", "crunchy", "healthy", "low sugar"),
        _t(
            "no artificial flavors",
        ),
    ),
    ProductType(
        ("Grocery", "Beverages", "Juice"),
        _t("apple juice", "orange juice", "lemonade"),
        _t("Tropicana", "Simply", "Martinelli's", "Organic Valley"),
        (2, 9),
        _t("{brand} {adjective} {noun} {volume}", "{brand} {noun}, {volume}"),
        {"volume": ["32 oz", "52 oz", "64 oz", "6 x 10 oz"]},
        _t("100%", "not from concentrate", "organic", "no pulp"),
        _t(
            "no added sugar",
        ),
    ),
    # Beauty
    ProductType(
        ("Beauty", "Skin Care", "Moisturizers"),
        _t("moisturizer", "face cream", "night cream"),
        _t("CeraVe", "Neutrogena", "La Roche-Posay", "Olay"),
        (8, 79),
        _t("{brand} {adjective} {noun} {volume_ml}", "{brand} {noun} for {skin} skin"),
        {"skin": ["dry", "oily", "sensitive", "combination"], "volume_ml": ["50ml", "100ml", "16 oz"]},
        _t("hydrating", "fragrance-free", "SPF 30", "anti-aging"),
        _t("with hyaluronic acid", "dermatologist tested"),
    ),
    ProductType(
        ("Beauty", "Hair Care", "Shampoo"),
        _t("shampoo", "conditioner", "hair mask"),
        _t("Pantene", "Dove", "Olaplex", "L'Oreal"),
        (4, 39),
        _t("{brand} {adjective} {noun} {volume_ml}", "{brand} {noun} for {hair} hair"),
        {"hair": ["curly", "dry", "colored", "fine"], "volume_ml": ["250ml", "400ml", "1L"]},
        _t("sulfate-free", "repairing", "volumizing", "clarifying"),
        _t(
            "salon quality",
        ),
    ),
    ProductType(
        ("Beauty", "Makeup", "Lipstick"),
        _t("lipstick", "lip gloss", "lip liner"),
        _t("Maybelline", "MAC", "L'Oreal", "Fenty Beauty"),
        (5, 39),
        _t("{brand} {adjective} {noun} - {shade}", "{brand} {noun} {shade}"),
        {"shade": ["ruby red", "nude", "berry", "coral", "pink"], "finish": ["matte", "satin", "gloss"]},
        _t("long-lasting", "matte", "hydrating", "waterproof"),
        _t(
            "smudge-proof",
        ),
        variants=("shade",),
    ),
    # Toys
    ProductType(
        ("Toys", "Building Toys", "Construction Sets"),
        _t("building set", "construction set", "building blocks"),
        _t("LEGO", "Mega Bloks", "K'NEX"),
        (9, 499),
        _t("{brand} {series} {noun} {pieces}", "{brand} {adjective} {noun} for kids"),
        {
            "pieces": ["100 pieces", "500 pieces", "1000 pieces", "3000 pieces"],
            "age": ["4+", "6+", "8+", "12+", "18+"],
        },
        _t("creative", "classic", "technic", "starter"),
        _t(
            "compatible bricks",
        ),
        models={
            "LEGO": ["City", "Technic", "Star Wars", "Friends", "Creator"],
            "Mega Bloks": ["First Builders"],
            "K'NEX": ["Thrill Rides"],
        },
        weight=1.2,
    ),
    ProductType(
        ("Toys", "Dolls & Plush", "Stuffed Animals"),
        _t("teddy bear", "plush toy", "stuffed animal", "plush mouse"),
        _t("Jellycat", "Ty", "Melissa & Doug", "Squishmallows"),
        (6, 59),
        _t("{brand} {adjective} {noun} {height}", "{brand} {noun} - {color}"),
        {"color": ["brown", "white", "pink", "gray", "blue"], "height": ["8 inch", "12 inch", "16 inch"]},
        _t("soft", "cuddly", "giant", "bashful"),
        _t(
            "safe for all ages",
        ),
    ),
    ProductType(
        ("Toys", "Games & Puzzles", "Board Games"),
        _t("board game", "card game", "jigsaw puzzle"),
        _t("Hasbro", "Ravensburger", "Mattel", "Asmodee"),
        (9, 69),
        _t("{brand} {adjective} {noun} for {players}", "{brand} {noun} {pieces_puzzle}"),
        {
            "players": ["2 players", "2-4 players", "2-6 players"],
            "pieces_puzzle": ["500 pieces", "1000 pieces"],
            "age": ["6+", "8+", "10+", "14+"],
        },
        _t("family", "strategy", "party", "classic"),
        _t(
            "quick to learn",
        ),
    ),
]

SERIES_WORDS = [
    "Pro",
    "Max",
    "Lite",
    "Plus",
    "Air",
    "Elite",
    "Sport",
    "Classic",
    "Ultra",
    "Neo",
    "Prime",
    "Go",
]
BOOK_WORDS_A = [
    "The Silent",
    "A Winter",
    "The Last",
    "Midnight",
    "The Hidden",
    "Beneath the",
    "The Glass",
    "Salt and",
    "The Orchard",
    "Letters from",
    "The Quiet",
    "Burning",
]
BOOK_WORDS_B = [
    "Harbor",
    "Garden",
    "Witness",
    "Kitchen",
    "River",
    "Code",
    "Orchard",
    "House",
    "Apple Tree",
    "Algorithm",
    "Lighthouse",
    "Market",
    "Forest",
    "Station",
]
DESCRIPTION_OPENERS = [
    "Designed for everyday use, this {noun} from {brand} combines {feature} with {adjective} styling.",
    "The {brand} {noun} offers {feature} and a {adjective} design that fits any routine.",
    "Meet the {adjective} {noun} by {brand}: {feature}, built to last.",
    "Customers choose this {noun} for its {feature}.",
]
DESCRIPTION_CLOSERS = [
    "Backed by a one-year warranty.",
    "Ships in recyclable packaging.",
    "A popular choice in {category}.",
    "Pairs well with other {category} essentials.",
    "",
]
