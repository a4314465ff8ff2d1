"""Static material the seeded world draws from: the catalog, buyer names, addresses and gift messages.

Names, cities and streets are keyed by the emulator's marketplace code (see marketplaces.py). Everything here
feeds a seeded random generator, so any change (even the order of a list) changes every generated order.
"""

from __future__ import annotations

from decimal import Decimal

# (sku, asin, title, price in USD); marketplaces.py turns the price into the local currency.
CATALOG = tuple(
    (f"SKU-{n:04d}", f"B0{n:08d}", title, Decimal(price))
    for n, (title, price) in enumerate(
        [
            ("Stainless Steel Water Bottle 750 ml", "19.99"),
            ("Bamboo Cutting Board, Large", "24.50"),
            ("USB-C Charging Cable 2 m", "9.99"),
            ("Wireless Ergonomic Mouse", "34.00"),
            ("Cotton Tote Bag", "12.00"),
            ("Cast Iron Skillet 26 cm", "39.95"),
            ("LED Desk Lamp with Dimmer", "45.00"),
            ("Yoga Mat 6 mm", "29.99"),
            ("Ceramic Pour-Over Coffee Dripper", "22.75"),
            ("Noise Cancelling Earbuds", "89.00"),
            ("Hardcover Notebook A5, Dotted", "14.25"),
            ("Kids' Rain Boots", "27.40"),
            ("Garden Hose Nozzle, 8 Patterns", "11.49"),
            ("Silicone Baking Mat Set", "16.80"),
            ("Mechanical Keyboard, Brown Switches", "119.00"),
            ("Merino Wool Hiking Socks (3 pairs)", "32.00"),
        ],
        start=1,
    )
)

# (first names, last names) per marketplace code.
NAMES = {
    "US": (["James", "Mary", "Robert", "Patricia", "Michael", "Linda", "José", "Zoë"],
           ["Smith", "Johnson", "Williams", "García", "O'Brien", "Nguyen", "Miller", "Davis"]),
    "UK": (["Oliver", "Amelia", "George", "Isla", "Siobhán", "Harry", "Aoife", "Noah"],
           ["Jones", "Taylor", "Brown", "Wilson", "Ó Súilleabháin", "Evans", "Thomas", "Roberts"]),
    "DE": (["Jürgen", "Ünal", "Greta", "Lukas", "Mia", "Björn", "Sören", "Anna"],
           ["Müller", "Schäfer", "Weiß", "Groß", "Köhler", "Fischer", "Meyer", "Straßer"]),
    "JP": (["太郎", "花子", "翔太", "さくら", "健", "陽菜", "蓮", "美咲"],
           ["山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村"]),
    # The other marketplaces of the three regions (`--sellers`): a few each.
    "CA": (["Liam", "Chloé", "Ethan", "Émilie"], ["Tremblay", "Roy", "MacDonald", "Côté"]),
    "MX": (["Sofía", "Mateo", "Ximena", "Santiago"], ["Hernández", "López", "Martínez", "Peña"]),
    "BR": (["João", "Ana", "Luís", "Beatriz"], ["Silva", "Conceição", "Araújo", "Gonçalves"]),
    "FR": (["Léa", "Hugo", "Chloé", "Théo"], ["Martin", "Lefèvre", "Dubois", "Müller-Leroy"]),
    "IT": (["Giulia", "Luca", "Niccolò", "Chiara"], ["Rossi", "Bianchi", "D'Angelo", "Esposito"]),
    "ES": (["Lucía", "Hugo", "Martín", "Paula"], ["García", "Fernández", "Muñoz", "Ibáñez"]),
    "TR": (["Ayşe", "Mehmet", "Çağla", "Emre"], ["Yılmaz", "Kaya", "Şahin", "Öztürk"]),
    "AU": (["Charlotte", "Jack", "Olivia", "William"], ["Smith", "Jones", "O'Connor", "Nguyen"]),
    "SG": (["Wei Ling", "Jun Jie", "Priya", "Hui Min"], ["Tan", "Lim", "Ng", "Raj"]),
}
# (city, state or region, postal code) per marketplace code.
CITIES = {
    "US": [("Seattle", "WA", "98101"), ("Austin", "TX", "73301"), ("Brooklyn", "NY", "11201")],
    "UK": [("London", "England", "SW1A 1AA"), ("Manchester", "England", "M1 1AE"), ("Cardiff", "Wales", "CF10 1EP")],
    "DE": [("München", "Bayern", "80331"), ("Köln", "Nordrhein-Westfalen", "50667"), ("Berlin", "Berlin", "10115")],
    "JP": [("東京都", "東京都", "100-0001"), ("大阪市", "大阪府", "530-0001"), ("札幌市", "北海道", "060-0001")],
    "CA": [("Toronto", "ON", "M5H 2N2"), ("Montréal", "QC", "H2Y 1C6"), ("Vancouver", "BC", "V6B 1A1")],
    "MX": [("Ciudad de México", "CDMX", "06000"), ("Guadalajara", "Jalisco", "44100")],
    "BR": [("São Paulo", "SP", "01001-000"), ("Rio de Janeiro", "RJ", "20010-000")],
    "FR": [("Paris", "Île-de-France", "75001"), ("Lyon", "Auvergne-Rhône-Alpes", "69001")],
    "IT": [("Roma", "RM", "00184"), ("Milano", "MI", "20121")],
    "ES": [("Madrid", "Madrid", "28013"), ("Barcelona", "Barcelona", "08002")],
    "TR": [("İstanbul", "İstanbul", "34110"), ("Ankara", "Ankara", "06050")],
    "AU": [("Sydney", "NSW", "2000"), ("Melbourne", "VIC", "3000")],
    "SG": [("Singapore", "Singapore", "018956"), ("Singapore", "Singapore", "238859")],
}
STREETS = {
    "US": ["123 Main Street", "77 Lakeview Ave", "9 Elm Court"],
    "UK": ["10 Downing Street", "221B Baker Street", "4 Privet Drive"],
    "DE": ["Hauptstraße 5", "Königsallee 12", "Schloßgasse 3"],
    "JP": ["千代田区丸の内1-1", "北区梅田3-1-1", "中央区北1条西2"],
    "CA": ["100 Queen St W", "275 rue Notre-Dame Est"],
    "MX": ["Av. Juárez 14", "Calle Morelos 120"],
    "BR": ["Praça da Sé 1", "Avenida Paulista 1578"],
    "FR": ["12 rue de Rivoli", "3 place Bellecour"],
    "IT": ["Via del Corso 21", "Corso Buenos Aires 33"],
    "ES": ["Calle Mayor 5", "Carrer de Ferran 12"],
    "TR": ["İstiklal Cd. 45", "Atatürk Blv. 7"],
    "AU": ["1 George St", "200 Collins St"],
    "SG": ["1 Raffles Pl", "391 Orchard Rd"],
}
GIFT_MESSAGES = ["Happy birthday!", "Alles Gute zum Geburtstag 🎉", "お誕生日おめでとう",
                 "Merry Christmas & a happy new year"]
