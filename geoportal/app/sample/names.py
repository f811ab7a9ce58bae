"""Name pools: streets (real Ratingen street names, reused freely), owners (obviously fake)."""

ARTERIAL_NAMES = [
    "Düsseldorfer Straße", "Mülheimer Straße", "Kaiserswerther Straße", "Lintorfer Straße",
    "Homberger Straße", "Hauser Ring", "Werdener Straße", "Bahnhofstraße", "Duisburger Straße",
    "Angerstraße", "Krummenweg", "Am Sondert", "Eggerscheidter Straße", "Rehhecke",
    "Essener Straße", "Velberter Straße", "Speestraße", "Westtangente",
]
RESIDENTIAL_NAMES = [
    "Ahornweg", "Birkenweg", "Eichenweg", "Lindenallee", "Am Hauser Busch", "Schützenstraße",
    "Grütstraße", "Hochstraße", "Oberstraße", "Poststraße", "Turmstraße", "Wallstraße",
    "Minoritenstraße", "Bruchstraße", "Bechemer Straße", "Brückstraße", "Friedrichstraße",
    "Am Sandbach", "Kirchgasse", "Graf-Adolf-Straße", "Marktplatz", "Lessingstraße",
    "Goethestraße", "Schillerstraße", "Beethovenstraße", "Mozartstraße", "Am Stadion",
    "Sohlstättenstraße", "Berliner Straße", "Erfurter Straße", "Dresdener Straße",
    "Leipziger Straße", "Potsdamer Straße", "Gothaer Straße", "Am Ententeich", "Volkardeyer Straße",
    "Thunesweg", "Jägerstraße", "Kirchfeldstraße", "Am Weinhaus", "Zum Hasenacker",
    "Broichhofstraße", "Rosenstraße", "Tulpenweg", "Nelkenweg", "Kolpingstraße",
    "Bleichstraße", "Philippstraße", "Peter-Brüning-Platz", "Kornsträßchen", "Am Söttgen",
]
BUSINESS_NAMES = [
    "Balcke-Dürr-Allee", "Kokkolastraße", "Harkortstraße", "Am Rosenkothen",
    "Daniel-Goldbach-Straße", "Calor-Emag-Straße", "Gothaer Allee", "Halskestraße",
    "Kaiserswerther Straße", "Sohlstättenstraße", "Am Potekamp", "Industriestraße",
]
SERVICE_NAMES = [
    "Wirtschaftsweg", "Am Waldrand", "Feldweg", "Hofweg", "Auf der Heide", "Am Brüggen",
    "Zum Blauen See", "Waldweg", "Am Krummen Weg",
]

FAKE_FIRST = ["Erika", "Max", "Lieschen", "Otto", "Hans", "Grete", "Paul", "Anna", "Fritz",
              "Berta", "Karl", "Frieda", "Emil", "Paula", "Kurt", "Ida"]
FAKE_LAST = ["Mustermann", "Musterfrau", "Beispiel", "Normalverbraucher", "Platzhalter",
             "Testperson", "Dummy", "Exempel", "Probe", "Muster", "Fiktiv", "Erfunden"]
FAKE_STREETS = ["Musterweg", "Beispielstraße", "Testallee", "Platzhalterplatz", "Fiktivgasse"]
FAKE_TOWNS = ["12345 Musterstadt", "99999 Beispielhausen", "00000 Testdorf", "54321 Fiktivstadt"]
FAKE_COMPANIES = ["Muster Immobilien GmbH", "Beispiel Grundbesitz KG", "Test Logistik AG",
                  "Platzhalter Bau GmbH & Co. KG"]
